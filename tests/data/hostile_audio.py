"""Hostile audio files in real container layouts, and the table of how serving answers them
(used by tests/data/test_hostile_audio.py and benchmarks/bench_hostile_audio.py)."""

from __future__ import annotations

import io
import struct
import time
from typing import Callable

import numpy as np
import soundfile as sf

MAX_SECONDS = 10.0  # serving.max_audio_seconds default
MAX_BYTES = 5_000_000  # serving.max_upload_bytes default


def _tone(sr: int, secs: float) -> np.ndarray:
    t = np.arange(int(sr * secs)) / sr
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def wav_header(rate: int, channels: int, data_bytes: int, bits: int = 16) -> bytes:
    """A canonical 44-byte PCM RIFF/WAVE header; `data_bytes` is what it declares."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 1, channels, rate, rate * block, block, bits)
    riff = min(36 + data_bytes, 0xFFFFFFFF)
    return (b"RIFF" + struct.pack("<I", riff) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", min(data_bytes, 0xFFFFFFFF)))


def _pcm(n_bytes: int) -> bytes:
    rng = np.random.default_rng(0)
    return (rng.integers(-8000, 8000, n_bytes // 2, dtype=np.int16)).tobytes()


def good_wav() -> bytes:
    buf = io.BytesIO()
    sf.write(buf, _tone(16000, 2.0), 16000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def wav_1hz() -> bytes:  # the 500 MemoryError: 2 MB declared at 1 Hz
    return wav_header(1, 1, 2_000_000) + _pcm(2_000_000)


def wav_8hz() -> bytes:  # the 24 s of CPU before a 400
    return wav_header(8, 1, 800_000) + _pcm(800_000)


def wav_huge_declared() -> bytes:  # 4 GB declared, 2 MB present (62 s at 16 kHz)
    return wav_header(16000, 1, 0xFFFFFF00) + _pcm(2_000_000)


def wav_long() -> bytes:  # honest header, 60 s: over the limit
    return wav_header(16000, 1, 1_920_000) + _pcm(1_920_000)


def wav_many_channels() -> bytes:
    return wav_header(16000, 64, 64 * 2 * 1600) + _pcm(64 * 2 * 1600)


def wav_truncated() -> bytes:  # cut inside the fmt chunk
    return good_wav()[:30]


def wrong_magic() -> bytes:
    return b"RIFX" + good_wav()[4:]


def random_bytes() -> bytes:
    return np.random.default_rng(1).integers(0, 256, 200_000, dtype=np.uint8).tobytes()


def _flac_silence(secs: float, rate: int = 8000) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, np.zeros(int(secs * rate), np.float32), rate, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def flac_bomb() -> bytes:  # 10 min of silence in a few KB; STREAMINFO declares it
    return _flac_silence(600)


def flac_bomb_unknown_length() -> bytes:
    """The same with STREAMINFO's 36-bit total-samples field zeroed ("unknown", as streaming
    encoders write): only the capped read can stop it."""
    data = bytearray(_flac_silence(600))
    assert data[:4] == b"fLaC"
    # STREAMINFO body starts at byte 8; total samples = low nibble of body[13] + body[14:18]
    data[8 + 13] &= 0xF0
    data[8 + 14:8 + 18] = b"\0\0\0\0"
    return bytes(data)


def opus_bomb(secs: float = 120.0) -> bytes:
    """WebM/Opus (what MediaRecorder sends) of long silence: ~100x smaller than its PCM."""
    import av

    buf = io.BytesIO()
    rate, frame = 48000, 960
    with av.open(buf, mode="w", format="webm") as out:
        st = out.add_stream("libopus", rate=rate)
        st.layout = "mono"
        zeros = np.zeros((1, frame), np.float32)
        for i in range(int(secs * rate / frame)):
            fr = av.AudioFrame.from_ndarray(zeros, format="flt", layout="mono")
            fr.sample_rate, fr.pts = rate, i * frame
            for pkt in st.encode(fr):
                out.mux(pkt)
        for pkt in st.encode(None):
            out.mux(pkt)
    return buf.getvalue()


CASES: dict[str, Callable[[], bytes]] = {
    "valid 2 s WAV (baseline)": good_wav,
    "WAV header says 1 Hz (2 MB)": wav_1hz,
    "WAV header says 8 Hz (800 KB)": wav_8hz,
    "WAV declares 4 GB, holds 2 MB": wav_huge_declared,
    "WAV 60 s (honest header)": wav_long,
    "WAV with 64 channels": wav_many_channels,
    "WAV truncated in its header": wav_truncated,
    "wrong magic (RIFX)": wrong_magic,
    "random bytes (200 KB)": random_bytes,
    "FLAC bomb: 10 min silence": flac_bomb,
    "FLAC bomb, length unknown": flac_bomb_unknown_length,
    "WebM/Opus bomb: 2 min silence": opus_bomb,
}


def answer(data: bytes) -> tuple[int, str, float]:
    """(HTTP status serving gives, error type, seconds) for an upload to /v1/speech, without
    the Ray graph: the same decode call and exception mapping the SpeechTokenizer replica uses."""
    from ichigo.assistant import decode_audio
    from serving.errors import from_exception

    t0 = time.perf_counter()
    try:
        decode_audio(data, MAX_BYTES, MAX_SECONDS)
        status, kind = 200, "ok"
    except Exception as e:  # noqa: BLE001 - the table records whatever happens
        err = from_exception(e)
        status, kind = (err.status, err.type) if err else (500, type(e).__name__)
    return status, kind, time.perf_counter() - t0


def table() -> list[tuple[str, int, int, str, float]]:
    answer(good_wav())  # warm-up: imports and the first libsndfile/FFmpeg calls are not timed
    rows = []
    for name, make in CASES.items():
        data = make()
        status, kind, secs = answer(data)
        rows.append((name, len(data), status, kind, secs))
    return rows
