"""Log-mel frames at 25 frames/s (hop 640 at 16 kHz), numpy only, batched over many waves."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import scipy.fft

from ichigo.audio import SAMPLE_RATE
from ichigo.speech_tokenizer.base import HOP, num_tokens

N_FFT = 1024  # 64 ms window, centred on each 40 ms token


@lru_cache(maxsize=8)
def mel_filters(n_mels: int, n_fft: int = N_FFT, sr: int = SAMPLE_RATE) -> np.ndarray:
    """(n_fft//2+1, n_mels) triangular filters on the HTK mel scale, 20 Hz .. sr/2."""
    def hz_to_mel(f):
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel_to_hz(m):
        return 700.0 * (10.0 ** (np.asarray(m) / 2595.0) - 1.0)

    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    pts = mel_to_hz(np.linspace(hz_to_mel(20.0), hz_to_mel(sr / 2), n_mels + 2))
    lower, centre, upper = pts[:-2], pts[1:-1], pts[2:]
    up = (freqs[:, None] - lower[None]) / (centre - lower)[None]
    down = (upper[None] - freqs[:, None]) / (upper - centre)[None]
    return np.maximum(0.0, np.minimum(up, down)).astype(np.float32)


@lru_cache(maxsize=2)
def _window(n_fft: int) -> np.ndarray:
    return np.hanning(n_fft).astype(np.float32)


def frames(wave: np.ndarray) -> np.ndarray:
    """(num_tokens, N_FFT) windows, frame i centred on the middle of token i."""
    n = num_tokens(len(wave))
    left = (N_FFT - HOP) // 2
    need = (n - 1) * HOP + N_FFT
    padded = np.zeros(need, dtype=np.float32)
    seg = wave[: need - left]
    padded[left:left + len(seg)] = seg
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(n)[:, None]
    return padded[idx]


def log_mel(waves: list[np.ndarray], n_mels: int) -> list[np.ndarray]:
    """Per-wave (num_tokens, n_mels) log10 mel energies; one FFT call for the whole batch."""
    lens = [num_tokens(len(w)) for w in waves]
    stacked = np.concatenate([frames(w) for w in waves]) * _window(N_FFT)
    spec = scipy.fft.rfft(stacked, axis=1)  # float32 in -> complex64 out (numpy would upcast)
    power = spec.real ** 2 + spec.imag ** 2
    mel = np.log10(np.maximum(power @ mel_filters(n_mels), 1e-10))
    return np.split(mel, np.cumsum(lens)[:-1])
