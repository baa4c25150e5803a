"""A voice pool spread over several synthesizers: each voice goes to its engine's backend.

Piper sessions are built on first use, one per Piper voice, so a process that only ever speaks
espeak voices never loads onnxruntime or the 63 MB voice.
"""

from __future__ import annotations

import zlib

import numpy as np

from ichigo.audio import SAMPLE_RATE
from ichigo.errors import InputError
from ichigo.tts.base import VoiceSpec


class MixedTTS:
    sample_rate = SAMPLE_RATE

    def __init__(self, backends: dict, piper_only: bool = False):
        self._espeak = backends.get("espeak")
        self._piper: dict[str, object] = {}
        self.piper_only = piper_only
        self._seed: int | None = None

    def reseed(self, seed: int) -> None:
        """What follows is reproducible: Piper sessions are rebuilt (on next use) from `seed`.
        Without it a clip's noise depended on every clip the process had spoken before, so the
        same profile and seed gave different Piper audio (and ASR-gate verdicts) from run to run."""
        self._seed = seed
        self._piper.clear()

    def backend_for(self, voice: str):
        v = VoiceSpec.parse(voice)
        if v.engine == "piper":
            if v.name not in self._piper:
                from ichigo.tts.piper import PiperTTS
                self._piper[v.name] = PiperTTS(v.name, seed=self._seed)
            return self._piper[v.name]
        if self.piper_only or self._espeak is None:
            raise InputError(f"voice {voice!r} is an espeak-ng voice but tts.backend is piper: "
                             "name Piper voices as piper:<name>")
        return self._espeak

    def synthesize(self, texts: list[str], voice: str) -> list[np.ndarray]:
        return self.backend_for(voice).synthesize(texts, voice)


def reseed_for(tts, key: str, seed: int) -> None:
    """Make what `tts` renders next depend on `key` (a shard's first row, a chunk's first file)
    and `seed` only, not on the process's history; backends without hidden noise need nothing."""
    if isinstance(tts, MixedTTS):
        tts.reseed(zlib.crc32(key.encode()) + seed)
