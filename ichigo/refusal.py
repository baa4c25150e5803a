"""What an Ichigo model says when it cannot hear the user, and how to recognise it.

Used by the stage-3 builder (answers to inaudible input; filtering refusal-like answers to
audible questions) and by evaluation (refusal and false-refusal rates).
"""

from __future__ import annotations

import random
import re

# An offline bank of varied refusals, used when no teacher LLM endpoint is configured.
OFFLINE_REFUSALS = (
    "I cannot hear you clearly.",
    "Sorry, I could not make out what you said.",
    "I am sorry, the audio is not clear to me.",
    "I could not hear any words in that.",
    "Could you say that again? I did not catch it.",
    "Sorry, I did not understand the audio.",
    "That sounded like noise to me. Please repeat.",
    "I am not able to hear what you are saying.",
    "Sorry, I cannot understand that recording.",
    "I did not hear a question. Could you repeat it?",
    "The sound was unclear, please try again.",
    "Sorry, I only heard noise.",
)

_PATTERNS = re.compile(
    r"\b(can ?not|can't|could not|couldn't|did not|didn't|unable to|not able to)\b.{0,20}"
    r"\b(hear|catch|understand|make out)\b|\b(only heard noise|sounded like noise|unclear|not clear)\b",
    re.IGNORECASE)


def is_refusal(text: str) -> bool:
    """True if `text` declines because the input could not be heard/understood."""
    return bool(_PATTERNS.search(text or ""))


def sample_refusal(rng: random.Random) -> str:
    return rng.choice(OFFLINE_REFUSALS)
