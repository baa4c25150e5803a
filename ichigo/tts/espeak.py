"""espeak-ng backend: the embedded profile's many-voice TTS (voices x variants x speed x pitch)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np

from ichigo.audio import SAMPLE_RATE, read_audio, to_16k
from ichigo.errors import ConfigError, InputError
from ichigo.tts.base import TransientTTSError, VoiceSpec, check_texts


class EspeakTTS:
    """One espeak-ng process per text, WAV on stdout (22050 Hz), resampled to 16 kHz.

    Texts in a batch run one after another on purpose: parallelism comes from worker processes,
    so one backend instance uses one core and N workers scale to N cores.
    """

    sample_rate = SAMPLE_RATE

    def __init__(self, speed: int = 160, pitch: int = 50, binary: str = "espeak-ng",
                 timeout: float = 30.0):
        path = shutil.which(binary)
        if path is None:
            raise ConfigError(f"{binary} not found: install the Debian package espeak-ng "
                              "(scripts/bootstrap.sh does) or choose tts.backend: whisperspeech")
        self.binary, self.speed, self.pitch, self.timeout = path, speed, pitch, timeout

    def _one(self, text: str, v: VoiceSpec) -> np.ndarray:
        cmd = [self.binary, "-v", v.name, "-s", str(v.speed or self.speed),
               "-p", str(v.pitch if v.pitch is not None else self.pitch), "--stdout", "--", text]
        try:
            res = subprocess.run(cmd, capture_output=True, timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            raise TransientTTSError(f"espeak-ng timed out after {self.timeout}s (voice {v.name!r})") from None
        if res.returncode != 0 or not res.stdout:
            err = res.stderr.decode(errors="replace").strip()
            raise InputError(f"espeak-ng failed for voice {v.name!r} (exit {res.returncode}): {err}")
        wave, sr = read_audio(res.stdout)
        return to_16k(wave, sr)

    def synthesize(self, texts: list[str], voice: str) -> list[np.ndarray]:
        v = VoiceSpec.parse(voice)
        if v.engine != "espeak":
            raise InputError(f"voice {voice!r} is a {v.engine} voice, not an espeak-ng one")
        return [self._one(t, v) for t in check_texts(texts)]
