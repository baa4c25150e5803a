"""Audio I/O and validation: everything that reaches a TTS consumer or a speech tokenizer is
16 kHz mono float32 in [-1, 1].

Decoding tries soundfile first (WAV/FLAC/OGG, fast, no FFmpeg) and falls back to PyAV (browser
formats: WebM/Opus from MediaRecorder, MP4/AAC). Validation raises `AudioError`, an `InputError`
with a short machine-readable `reason` so batch jobs can skip bad items and count why.
"""

from __future__ import annotations

import io
from math import gcd
from pathlib import Path
from typing import Literal, Union

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly

from ichigo.errors import InputError

SAMPLE_RATE = 16_000
# -80 dBFS: quieter than any real recording chain's noise floor, so "silent" means digital silence.
DEFAULT_MIN_PEAK = 1e-4

AudioSource = Union[bytes, bytearray, memoryview, str, Path]
TooLong = Literal["reject", "chunk"]


class AudioError(InputError):
    """Unusable audio. `reason` is one of: empty, corrupt, silent, too_long, bad_rate."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def _as_bytes(src: AudioSource) -> tuple[bytes, str]:
    if isinstance(src, (bytes, bytearray, memoryview)):
        return bytes(src), "<bytes>"
    path = Path(src)
    if not path.is_file():
        raise AudioError("empty", f"audio file {path} does not exist")
    return path.read_bytes(), str(path)


def _decode_soundfile(data: bytes) -> tuple[np.ndarray, int]:
    wave, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    return wave.mean(axis=1), int(sr)


def _decode_av(data: bytes) -> tuple[np.ndarray, int]:
    import av  # PyAV bundles FFmpeg: WebM/Opus, MP4/AAC, MP3 ...

    with av.open(io.BytesIO(data), mode="r") as container:
        if not container.streams.audio:
            raise ValueError("no audio stream")
        stream = container.streams.audio[0]
        rate = stream.codec_context.sample_rate or stream.rate
        # packed float mono at the native rate; our own resampler does the rate change
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks = []
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    wave = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    return wave, int(rate)


def read_audio(src: AudioSource) -> tuple[np.ndarray, int]:
    """Decode any supported container to (float32 mono wave, sample rate). No resampling."""
    data, name = _as_bytes(src)
    if not data:
        raise AudioError("empty", f"audio {name} is empty (0 bytes)")
    try:
        wave, sr = _decode_soundfile(data)
    except Exception:  # not a libsndfile format: try FFmpeg via PyAV
        try:
            wave, sr = _decode_av(data)
        except Exception as e:
            raise AudioError("corrupt", f"audio {name} could not be decoded ({type(e).__name__}: {e}); "
                             "send WAV, FLAC, OGG, WebM/Opus or MP4/AAC") from None
    if sr <= 0:
        raise AudioError("bad_rate", f"audio {name} reports sample rate {sr}")
    if wave.size == 0:
        raise AudioError("empty", f"audio {name} decoded to 0 samples")
    if not np.all(np.isfinite(wave)):
        raise AudioError("corrupt", f"audio {name} holds NaN/inf samples")
    return wave.astype(np.float32, copy=False), sr


def resample(wave: np.ndarray, sr: int, target: int) -> np.ndarray:
    """Polyphase resampling with the exact rational ratio (22050 -> 16000 is 320/441)."""
    wave = np.asarray(wave, dtype=np.float32)
    if wave.ndim != 1:
        raise AudioError("corrupt", f"expected a mono 1-D wave, got shape {wave.shape}")
    if sr <= 0 or target <= 0:
        raise AudioError("bad_rate", f"sample rates must be positive, got {sr} -> {target}")
    if sr == target:
        return wave
    g = gcd(int(sr), int(target))
    out = resample_poly(wave, int(target) // g, int(sr) // g).astype(np.float32)
    return np.clip(out, -1.0, 1.0)


def to_16k(wave: np.ndarray, sr: int) -> np.ndarray:
    return resample(wave, sr, SAMPLE_RATE)


def wav_bytes(wave16k: np.ndarray, sr: int = SAMPLE_RATE) -> bytes:
    """16-bit PCM WAV bytes (what the corpus and eval sets store)."""
    buf = io.BytesIO()
    sf.write(buf, np.clip(np.asarray(wave16k, dtype=np.float32), -1, 1), sr, format="WAV",
             subtype="PCM_16")
    return buf.getvalue()


def seconds(wave: np.ndarray, sr: int = SAMPLE_RATE) -> float:
    return len(wave) / float(sr)


def chunk(wave: np.ndarray, max_seconds: float, sr: int = SAMPLE_RATE) -> list[np.ndarray]:
    """Split into consecutive pieces of at most `max_seconds` (the last one may be shorter)."""
    step = max(1, int(round(max_seconds * sr)))
    return [wave[i:i + step] for i in range(0, len(wave), step)] or [wave]


def check_wave(wave: np.ndarray, sr: int = SAMPLE_RATE, *, min_peak: float = DEFAULT_MIN_PEAK,
               max_seconds: float | None = None, too_long: TooLong = "reject",
               min_seconds: float = 0.05) -> list[np.ndarray]:
    """Validate a 16 kHz wave; returns it as one or more chunks (several only when chunking).

    Raises AudioError for empty, silent, or (with too_long="reject") over-long audio.
    """
    wave = np.asarray(wave, dtype=np.float32)
    if sr != SAMPLE_RATE:
        wave = to_16k(wave, sr)
    dur = seconds(wave)
    if wave.size == 0 or dur < min_seconds:
        raise AudioError("empty", f"audio is {dur:.3f} s long; need at least {min_seconds} s")
    peak = float(np.max(np.abs(wave)))
    if peak < min_peak:
        raise AudioError("silent", f"audio is silent (peak {peak:.2e} < {min_peak:.0e}); "
                         "check the microphone or the file")
    if max_seconds is not None and dur > max_seconds:
        if too_long == "reject":
            raise AudioError("too_long", f"audio is {dur:.1f} s long; the limit is {max_seconds:g} s")
        if too_long != "chunk":
            raise ValueError(f"too_long must be 'reject' or 'chunk', not {too_long!r}")
        return chunk(wave, max_seconds)
    return [wave]


def load_16k(src: AudioSource, *, min_peak: float = DEFAULT_MIN_PEAK,
             max_seconds: float | None = None, too_long: TooLong = "reject") -> list[np.ndarray]:
    """Decode + resample + validate in one call: the entry point for user-supplied audio."""
    wave, sr = read_audio(src)
    return check_wave(to_16k(wave, sr), min_peak=min_peak, max_seconds=max_seconds,
                      too_long=too_long)


__all__ = ["SAMPLE_RATE", "DEFAULT_MIN_PEAK", "AudioError", "read_audio", "resample", "to_16k", "wav_bytes",
           "seconds", "chunk", "check_wave", "load_16k"]
