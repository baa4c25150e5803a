"""What an Ichigo model says when it cannot hear the user, and how to recognise it.

Used by the stage-3 builder (answers to inaudible input; filtering refusal-like answers to
audible questions) and by evaluation (refusal and false-refusal rates).
"""

from __future__ import annotations

import random
import re

# An offline bank of varied refusals, used when no teacher LLM endpoint is configured.
OFFLINE_REFUSALS = (
    "I'm sorry, I couldn't hear you clearly. Could you say that again?",
    "I cannot hear you. Could you repeat that, please?",
    "Sorry, the audio was unclear. Please try again.",
    "I didn't catch that. Could you please repeat your question?",
    "I'm afraid I couldn't make out what you said.",
    "The audio seems to be just noise. Could you speak again?",
    "Sorry, I can't understand that recording. Please say it once more.",
    "I couldn't hear any words there. What would you like to ask?",
    "It sounds like there was no speech in that clip. Could you try again?",
    "Apologies, your message was inaudible. Please repeat it.",
    "I'm not able to hear you properly. Can you say that again more clearly?",
    "That was hard to hear. Would you mind repeating it?",
    "Sorry, I only heard background noise. Please ask again.",
    "I could not understand the audio. Please speak a bit more clearly.",
    "Hmm, I didn't get that. Can you repeat what you said?",
    "Your voice didn't come through. Could you try once more?",
)

# Matches both the bank's phrasings and typical teacher-LLM refusals.
_PATTERNS = re.compile(
    r"\b(i('m| am)? (sorry|afraid)|sorry,|i (can(no|')t|could(n't| not)|did(n't| not)) "
    r"(hear|understand|catch|make out)|inaudible|(please|could you|can you) (repeat|say that again|try again)|"
    r"as an ai|i('m| am) (unable|not able) to|hard to hear|just noise|only (heard )?(background )?noise|"
    r"(mind|you) repeat(ing)?|didn't come through|(try|say it) (once|again))", re.IGNORECASE)


def is_refusal(text: str) -> bool:
    """True if `text` declines because the input could not be heard/understood."""
    return bool(_PATTERNS.search(text or ""))


def sample_refusal(rng: random.Random) -> str:
    return rng.choice(OFFLINE_REFUSALS)
