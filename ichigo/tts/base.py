"""What every TTS backend offers, and how a voice is named."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from ichigo.errors import InputError


@runtime_checkable
class TTSBackend(Protocol):
    """Batched text-to-speech. Output waves are float32 mono at `sample_rate` (16 kHz here)."""

    sample_rate: int

    def synthesize(self, texts: list[str], voice: str) -> list[np.ndarray]: ...


_VOICE_RE = re.compile(r"^(?P<name>[A-Za-z0-9_\-+]+)(?::s(?P<speed>\d+))?(?::p(?P<pitch>\d+))?$")


@dataclass(frozen=True)
class VoiceSpec:
    """`name[:sSPEED][:pPITCH]`, e.g. `en-us+f3:s160:p50` (espeak voice+variant, words/min, 0-99).

    WhisperSpeech uses `name` as a speaker-embedding file name and ignores speed/pitch.
    """

    name: str
    speed: int | None = None
    pitch: int | None = None

    @classmethod
    def parse(cls, voice: str) -> "VoiceSpec":
        m = _VOICE_RE.match(voice.strip()) if isinstance(voice, str) else None
        if not m:
            raise InputError(f"bad voice {voice!r}: use NAME[:sSPEED][:pPITCH], e.g. en-us+f3:s160:p50")
        speed = int(m["speed"]) if m["speed"] else None
        pitch = int(m["pitch"]) if m["pitch"] else None
        if speed is not None and not 80 <= speed <= 450:
            raise InputError(f"voice {voice!r}: speed {speed} outside 80..450 words per minute")
        if pitch is not None and not 0 <= pitch <= 99:
            raise InputError(f"voice {voice!r}: pitch {pitch} outside 0..99")
        return cls(m["name"], speed, pitch)

    def __str__(self) -> str:
        return self.name + (f":s{self.speed}" if self.speed is not None else "") + (
            f":p{self.pitch}" if self.pitch is not None else "")


def check_texts(texts: list[str]) -> list[str]:
    """Strip and reject empty texts early, naming the offending index."""
    if isinstance(texts, str):
        raise InputError("synthesize() takes a list of texts, not one string")
    out = []
    for i, t in enumerate(texts):
        t = (t or "").strip()
        if not t:
            raise InputError(f"text {i} is empty: nothing to synthesize")
        out.append(t)
    return out
