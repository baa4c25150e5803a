"""The speech-tokenizer contract: 16 kHz mono in, 25 codes per second out, codes 0..511, pad 512."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from ichigo.audio import SAMPLE_RATE
from ichigo.sound_tokens import FRAME_RATE_HZ, NUM_CODES, PAD_CODE

HOP = SAMPLE_RATE // FRAME_RATE_HZ  # 640 samples per token

__all__ = ["SpeechTokenizer", "HOP", "NUM_CODES", "PAD_CODE", "num_tokens", "as_wave"]


@runtime_checkable
class SpeechTokenizer(Protocol):
    kind: str
    sample_rate: int
    frame_rate: int

    def encode(self, wave: np.ndarray) -> list[int]: ...

    def encode_batch(self, waves: Sequence[np.ndarray]) -> list[list[int]]: ...

    def save(self, path: str | Path) -> Path: ...


def encode_chunked(waves: Sequence[np.ndarray], max_chunk_seconds: float, encode_pieces) -> list[list[int]]:
    """Codes per wave: waves longer than `max_chunk_seconds` are cut into chunks, all chunks are
    encoded together by `encode_pieces(chunks) -> codes per chunk`, and a wave's chunk codes are
    concatenated (never silently truncated)."""
    from ichigo.audio import chunk

    pieces, owner = [], []
    for i, w in enumerate(waves):
        for c in chunk(as_wave(w), max_chunk_seconds):
            pieces.append(c)
            owner.append(i)
    result: list[list[int]] = [[] for _ in waves]
    for i, codes in zip(owner, encode_pieces(pieces)):
        result[i].extend(codes)
    return result


def saved_format(path: str | Path) -> str | None:
    """The `format` an npz tokenizer file says it is (codebook, Whisper k-means), else None: a
    package's tokenizer loads as what it is, whatever the current profile's backend says."""
    import json

    try:
        with np.load(path, allow_pickle=False) as z:
            return json.loads(str(z["meta"])).get("format")
    except Exception:  # not an npz of ours (e.g. a WhisperVQ .model checkpoint)
        return None


def num_tokens(n_samples: int) -> int:
    """Tokens for a 16 kHz wave of `n_samples`: one per full 40 ms, at least one."""
    return max(1, int(n_samples) // HOP)


def as_wave(wave) -> np.ndarray:
    w = np.asarray(wave, dtype=np.float32)
    if w.ndim != 1 or w.size == 0:
        from ichigo.audio import AudioError
        raise AudioError("empty", f"expected a non-empty mono 16 kHz wave, got shape {w.shape}")
    return w
