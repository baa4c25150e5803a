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
    """Unusable audio. `reason` is one of: empty, corrupt, silent, too_long, bad_rate,
    bad_channels."""

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


# Limits checked on the header / container metadata BEFORE any sample is decoded: a 2 MB WAV
# whose header says 1 Hz would otherwise be decoded and resampled 16000x (a decode bomb).
MIN_RATE, MAX_RATE = 8_000, 192_000
MAX_CHANNELS = 8
# ceiling when the caller sets no duration limit (batch jobs): bounds memory per file
DEFAULT_MAX_DECODE_SECONDS = 1800.0
READ_BLOCK_FRAMES = 1 << 16


def _check_header(name: str, rate: int, channels: int, frames: int | None,
                  max_seconds: float | None) -> None:
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError("bad_rate", f"audio {name} declares sample rate {rate} Hz; "
                         f"send {MIN_RATE}..{MAX_RATE} Hz")
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioError("bad_channels", f"audio {name} declares {channels} channels; "
                         f"send 1..{MAX_CHANNELS}")
    if frames is not None and max_seconds is not None and frames > max_seconds * rate:
        raise AudioError("too_long", f"audio {name} is {frames / rate:.1f} s long (by its header); "
                         f"the limit is {max_seconds:g} s")


def _too_long(name: str, max_seconds: float) -> AudioError:
    return AudioError("too_long", f"audio {name} is longer than the limit of {max_seconds:g} s")


def _decode_soundfile(data: bytes, name: str, max_seconds: float) -> tuple[np.ndarray, int]:
    with sf.SoundFile(io.BytesIO(data)) as f:  # reads the header only
        rate, channels = int(f.samplerate), int(f.channels)
        # libsndfile reports 0 or a huge frame count for unknown lengths: the read below is capped
        frames = int(f.frames) if 0 < f.frames < 2**62 else None
        _check_header(name, rate, channels, frames, max_seconds)
        cap = int(max_seconds * rate)
        # in blocks, downmixed as read: memory follows the real data, not a declared length
        parts, total = [], 0
        while True:
            block = f.read(READ_BLOCK_FRAMES, dtype="float32", always_2d=True)
            if not len(block):
                break
            parts.append(block.mean(axis=1))
            total += len(block)
            if total > cap:
                raise _too_long(name, max_seconds)
    return (np.concatenate(parts) if parts else np.zeros(0, np.float32)), rate


def _container(data: bytes) -> str | None:
    """The FFmpeg demuxer for the containers we accept, by magic bytes; None: not audio we take.
    Naming it skips FFmpeg's probing, which on arbitrary bytes tries every demuxer (slow, and a
    larger attack surface than the formats browsers and tools actually send)."""
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"  # WebM (MediaRecorder) and MKV
    if data[:4] == b"OggS":
        return "ogg"
    if data[4:8] == b"ftyp":
        return "mp4"  # MP4 / M4A / MOV
    if data[:3] == b"ID3":
        return "mp3"
    if len(data) > 3 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:  # an MPEG frame sync
        version, layer = (data[1] >> 3) & 3, (data[1] >> 1) & 3
        bitrate, rate = data[2] >> 4, (data[2] >> 2) & 3
        if layer == 0 and data[1] & 0xF0 == 0xF0 and (data[2] >> 2) & 0xF < 13:
            return "aac"  # ADTS: layer 00, valid sampling-frequency index
        if version != 1 and layer != 0 and bitrate not in (0, 15) and rate != 3:
            return "mp3"  # a full, valid MPEG audio header, not just 11 set bits
    if data[:4] == b"fLaC":
        return "flac"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] in (b"RF64", b"FORM", b".snd", b"caff"):
        return "sndfile"  # RF64, AIFF, AU, CAF: libsndfile only
    return None


# containers libsndfile reads itself; the others go straight to FFmpeg
_SNDFILE = {"wav", "flac", "ogg", "sndfile"}  # not mp3: libsndfile's sync search is slow on junk


def _decode_av(data: bytes, name: str, max_seconds: float) -> tuple[np.ndarray, int]:
    import av  # PyAV bundles FFmpeg: WebM/Opus, MP4/AAC, MP3 ...

    fmt = _container(data)
    if fmt is None:
        raise ValueError("unknown container (magic bytes)")
    with av.open(io.BytesIO(data), mode="r", format=fmt) as container:
        if not container.streams.audio:
            raise ValueError("no audio stream")
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate or stream.rate or 0)
        channels = int(stream.codec_context.channels or 0)
        frames = None
        if stream.duration is not None and stream.time_base is not None:
            frames = int(stream.duration * stream.time_base * rate)
        elif container.duration:  # microseconds (av.time_base)
            frames = int(container.duration / 1_000_000 * rate)
        _check_header(name, rate, channels, frames, max_seconds)
        cap = int(max_seconds * rate)
        # packed float mono at the native rate; our own resampler does the rate change
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks, total = [], 0
        for frame in container.decode(stream):
            # metadata can lie (or be absent in MediaRecorder WebM): count what really decodes
            if frame.sample_rate != rate:
                raise AudioError("bad_rate", f"audio {name} changes sample rate mid-stream")
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
                total += chunks[-1].size
            if total > cap:
                raise _too_long(name, max_seconds)
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    wave = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if wave.size > cap:
        raise _too_long(name, max_seconds)
    return wave, rate


def read_audio(src: AudioSource, *, max_seconds: float | None = None) -> tuple[np.ndarray, int]:
    """Decode any supported container to (float32 mono wave, sample rate). No resampling.

    Rate (8..192 kHz), channels and length (`max_seconds`, else DEFAULT_MAX_DECODE_SECONDS) are
    checked from the header before decoding, and decoding stops once the length is exceeded."""
    data, name = _as_bytes(src)
    if not data:
        raise AudioError("empty", f"audio {name} is empty (0 bytes)")
    limit = DEFAULT_MAX_DECODE_SECONDS if max_seconds is None else max_seconds
    fmt = _container(data)
    if fmt is None:
        # decided from the magic bytes: letting libsndfile probe unknown bytes costs ~1 s of CPU
        # per 200 KB (its MPEG sync search), a cheap way to burn a server's cores
        raise AudioError("corrupt", f"audio {name} could not be decoded: unknown magic bytes (not a container we read); "
                         "send WAV, FLAC, OGG, WebM/Opus, MP3 or MP4/AAC")
    try:
        if fmt not in _SNDFILE:
            raise ValueError(f"{fmt}: FFmpeg's")
        wave, sr = _decode_soundfile(data, name, limit)
    except AudioError:
        raise
    except Exception:  # not a libsndfile format: try FFmpeg via PyAV
        try:
            if fmt == "sndfile":
                raise
            wave, sr = _decode_av(data, name, limit)
        except AudioError:
            raise
        except Exception as e:
            raise AudioError("corrupt", f"audio {name} could not be decoded ({type(e).__name__}: {e}); "
                             "send WAV, FLAC, OGG, WebM/Opus or MP4/AAC") from None
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
    # with "chunk" any length is wanted: only the default decode ceiling applies
    wave, sr = read_audio(src, max_seconds=max_seconds if too_long == "reject" else None)
    return check_wave(to_16k(wave, sr), min_peak=min_peak, max_seconds=max_seconds,
                      too_long=too_long)


__all__ = ["SAMPLE_RATE", "DEFAULT_MIN_PEAK", "AudioError", "read_audio", "resample", "to_16k", "wav_bytes",
           "seconds", "chunk", "check_wave", "load_16k"]
