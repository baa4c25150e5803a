"""What every TTS backend offers, and how a voice is named."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from ichigo.errors import InputError


class TransientTTSError(InputError):
    """A failure that may pass on retry (a subprocess timeout, an onnxruntime resource error).
    Callers retry these with backoff; only what still fails is recorded as a failed row."""


@runtime_checkable
class TTSBackend(Protocol):
    """Batched text-to-speech. Output waves are float32 mono at `sample_rate` (16 kHz here)."""

    sample_rate: int

    def synthesize(self, texts: list[str], voice: str) -> list[np.ndarray]: ...


_VOICE_RE = re.compile(r"^(?:(?P<engine>espeak|piper):)?(?P<name>[A-Za-z0-9_\-+]+)"
                       r"(?::s(?P<speed>\d+))?(?::p(?P<pitch>\d+))?$")
ENGINES = ("espeak", "piper")
# Piper's speed is a percentage of the voice's natural rate (length_scale = base * 100 / speed).
PIPER_SPEED_RANGE = (50, 200)


@dataclass(frozen=True)
class VoiceSpec:
    """`[ENGINE:]name[:sSPEED][:pPITCH]`, e.g. `en-us+f3:s160:p50` (espeak voice+variant,
    words/min, 0-99) or `piper:joe:s110` (a Piper voice at 110% of its natural rate; no pitch).

    No engine prefix means espeak, so existing profiles keep their meaning. WhisperSpeech uses
    `name` as a speaker-embedding file name and ignores speed/pitch.
    """

    name: str
    speed: int | None = None
    pitch: int | None = None
    engine: str = "espeak"

    @classmethod
    def parse(cls, voice: str) -> "VoiceSpec":
        m = _VOICE_RE.match(voice.strip()) if isinstance(voice, str) else None
        if not m:
            raise InputError(f"bad voice {voice!r}: use [ENGINE:]NAME[:sSPEED][:pPITCH], e.g. "
                             "en-us+f3:s160:p50 or piper:joe:s110 (engines: espeak, piper)")
        speed = int(m["speed"]) if m["speed"] else None
        pitch = int(m["pitch"]) if m["pitch"] else None
        engine = m["engine"] or "espeak"
        if engine == "piper":
            lo, hi = PIPER_SPEED_RANGE
            if speed is not None and not lo <= speed <= hi:
                raise InputError(f"voice {voice!r}: Piper speed {speed} outside {lo}..{hi} "
                                 "(percent of the voice's natural rate)")
            if pitch is not None:
                raise InputError(f"voice {voice!r}: Piper voices have no pitch setting; drop ':p{pitch}'")
            return cls(m["name"], speed, None, engine)
        if speed is not None and not 80 <= speed <= 450:
            raise InputError(f"voice {voice!r}: speed {speed} outside 80..450 words per minute")
        if pitch is not None and not 0 <= pitch <= 99:
            raise InputError(f"voice {voice!r}: pitch {pitch} outside 0..99")
        return cls(m["name"], speed, pitch)

    @property
    def base(self) -> str:
        """The voice without speed/pitch: what identifies a speaker (`piper:joe`, `en-us+f3`)."""
        return f"piper:{self.name}" if self.engine == "piper" else self.name

    def __str__(self) -> str:
        return ("piper:" if self.engine == "piper" else "") + self.name + (f":s{self.speed}" if self.speed is not None else "") + (
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
