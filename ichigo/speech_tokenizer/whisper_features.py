"""Whisper's input side, shared by the ASR and the tokenizer: per-clip log-mels and the window.

Whisper is trained on 30 s windows (1500 encoder positions). A shorter window (whisper.cpp calls
it audio_ctx) keeps the first positions of the positional embedding and feeds fewer mel frames:
the encoder's cost falls about linearly (attention quadratically) with the window, at some cost
in accuracy that `benchmarks/bench_tokens.py` measures.
"""

from __future__ import annotations

import dataclasses

import numpy as np

WHISPER_WINDOW_SECONDS = 30.0
ENCODER_FPS = 50  # encoder positions per second (mel hop 10 ms, conv stride 2)


def window_positions(window_seconds: float | None) -> int:
    """Encoder positions for a window (None -> Whisper's own 30 s); whole 20 ms steps, >= 1 s."""
    seconds = WHISPER_WINDOW_SECONDS if window_seconds is None else float(window_seconds)
    if not 1.0 <= seconds <= WHISPER_WINDOW_SECONDS:
        raise ValueError(f"window_seconds must be in 1..30, got {window_seconds}")
    return int(round(seconds * ENCODER_FPS))


def shorten_window(model, window_seconds: float | None):
    """Make `model` (a whisper.model.Whisper) take `window_seconds` windows, in place."""
    n_ctx = window_positions(window_seconds)
    full = model.encoder.positional_embedding
    if n_ctx > full.shape[0]:
        raise ValueError(f"window of {n_ctx} positions exceeds the model's {full.shape[0]}")
    model.encoder.positional_embedding = full[:n_ctx].clone()
    model.dims = dataclasses.replace(model.dims, n_audio_ctx=n_ctx)
    return model


def window_mels(pieces: list[np.ndarray], n_mels: int, n_ctx: int):
    """(B, n_mels, 2 * n_ctx) log-mels, each clip computed on its own exactly as Whisper does for
    one clip (normalised by its own loudest frame; zero padding to the window), so a clip's codes
    and transcript never depend on what it is batched with. Clips longer than the window are cut."""
    import torch
    import whisper.audio as wa

    frames = 2 * n_ctx
    samples = frames * wa.HOP_LENGTH
    out = torch.empty(len(pieces), n_mels, frames)
    for i, p in enumerate(pieces):
        m = wa.log_mel_spectrogram(torch.from_numpy(np.ascontiguousarray(p[:samples], dtype=np.float32)),
                                   n_mels, padding=samples)
        out[i] = wa.pad_or_trim(m, frames)
    return out
