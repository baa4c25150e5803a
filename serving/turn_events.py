"""Typed events of one turn, between the turn engine (turn_engine.py) and the routes' wire
formats (events.py).

The LLM deployment streams plain dicts over its Ray handle (`start`, `text`, `end`); the engine
turns each into these dataclasses at once (`from_llm`), so nothing past the handle reads dict keys.
A reply is `TextDelta`s with each sentence's `Speech` interleaved, then one `Finished`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from ichigo.assistant import TextDelta


@dataclass(frozen=True)
class Started:
    """The LLM accepted the prompt (before any text, so a bad prompt can still be a 4xx)."""
    version: str | None = None
    prompt_tokens: int | None = None


@dataclass(frozen=True)
class Speech:
    """One sentence's audio, as the TTS call returned it (WAV, or raw PCM16 for OpenAI audio out)."""
    index: int
    sentence: str
    audio: bytes


@dataclass(frozen=True)
class Finished:
    """The reply ended. `ttft`: seconds from the request's arrival to the first text (set by
    the engine's reply, None straight from the LLM)."""
    finish_reason: str | None = None
    completion_tokens: int | None = None
    ttft: float | None = None


LLMEvent = Union[Started, TextDelta, Finished]
ReplyEvent = Union[TextDelta, Speech, Finished]


def from_llm(raw: dict) -> tuple[LLMEvent, ...]:
    """The typed events of one LLM stream message. The last text piece rides inside `end` (one
    message less, and the last sentence's TTS starts a message earlier): it comes out as a
    `TextDelta`, then `Finished`. A type this ingress does not know (a newer LLM replica
    mid-rollout) is skipped, as before typing."""
    kind = raw.get("type")
    if kind == "start":
        return (Started(raw.get("version"), raw.get("prompt_tokens")),)
    if kind == "text":
        return (TextDelta(raw["delta"]),)
    if kind == "end":
        end = Finished(raw.get("finish_reason"), raw.get("completion_tokens"))
        return (TextDelta(raw["delta"]), end) if raw.get("delta") else (end,)
    return ()


__all__ = ["Finished", "LLMEvent", "ReplyEvent", "Speech", "Started", "TextDelta", "from_llm"]
