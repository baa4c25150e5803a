"""Real (non-speech) audio for the inaudible task and the noise eval set: white and pink noise,
mains hum with harmonics, and near silence (a quiet noise floor, still above the silence check)."""

from __future__ import annotations

import numpy as np

from ichigo.audio import SAMPLE_RATE

NOISE_KINDS = ("white", "pink", "hum", "near_silence")


def _pink(n: int, rng: np.random.Generator) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n)
    f[0] = f[1]
    return np.fft.irfft(spec / np.sqrt(f), n)  # 1/f power


def make_noise(kind: str, seconds: float, rng: np.random.Generator) -> np.ndarray:
    n = int(seconds * SAMPLE_RATE)
    if kind == "white":
        x, level = rng.standard_normal(n), rng.uniform(0.05, 0.3)
    elif kind == "pink":
        x, level = _pink(n, rng), rng.uniform(0.05, 0.3)
    elif kind == "hum":
        t = np.arange(n) / SAMPLE_RATE
        base = rng.choice([50.0, 60.0])
        x = sum(rng.uniform(0.2, 1.0) / h * np.sin(2 * np.pi * base * h * t + rng.uniform(0, 6.3))
                for h in (1, 2, 3, 5))
        x = x + 0.05 * rng.standard_normal(n)
        level = rng.uniform(0.05, 0.4)
    elif kind == "near_silence":
        x, level = rng.standard_normal(n), rng.uniform(0.001, 0.004)  # -50..-60 dBFS
    else:
        raise ValueError(f"unknown noise kind {kind!r}; choose from {NOISE_KINDS}")
    x = x / (np.max(np.abs(x)) + 1e-9) * level
    return x.astype(np.float32)
