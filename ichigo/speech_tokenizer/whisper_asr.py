"""English speech recognition with the real Whisper weights: batched greedy decoding in torch.

The ASR round-trip gate of data synthesis and the cascade baseline call `transcribe_batch`.
Decoding is openai-whisper's own (`whisper.decoding.decode`: temperature 0, no timestamps), over
the weights converted by `whisper_weights`; tests pin it to faster-whisper's transcript.

Greedy decoding of broken or unfamiliar speech can loop ("the the the ...") until Whisper's
224-token limit, and a batch runs until its longest member stops: so by default a window may
generate at most 16 + 8 tokens per second of window (fluent English is ~2-4 tokens/s): 56 for a
5 s window. Normal transcripts are never cut; a looping one is cut early (its WER is bad either
way). The cap depends on the window only, so a clip's transcript never depends on its batch.

`bf16_encoder`: the encoder (2/3 of the time at a 10 s window) runs under bf16 autocast and hands
fp32 states to the decoder. Only for callers that compare transcripts against a threshold (the ASR
gate): on 144 synthesized clips it was 1.5x faster on an AVX512-BF16 CPU, with the same verdict
for every clip and 141 identical transcripts. Off by default: the cascade and the tests keep
Whisper's fp32 transcripts.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ichigo.audio import SAMPLE_RATE, chunk
from ichigo.speech_tokenizer.base import as_wave
from ichigo.speech_tokenizer.whisper_features import (WHISPER_WINDOW_SECONDS, shorten_window,
                                                      window_mels, window_positions)
from ichigo.speech_tokenizer.whisper_weights import load_whisper

__all__ = ["WhisperASR"]
TOKENS_PER_SECOND_CAP = 8


class WhisperASR:
    def __init__(self, model, window_seconds: float | None = None, device: str = "cpu",
                 batch_size: int = 16, max_new_tokens: int | None = None, bf16_encoder: bool = False):
        self.window_seconds = WHISPER_WINDOW_SECONDS if window_seconds is None else float(window_seconds)
        window_positions(self.window_seconds)  # validates
        self.model = shorten_window(model, self.window_seconds).to(device).eval()
        self.device = device
        self.batch_size = max(1, int(batch_size))
        self.max_new_tokens = max_new_tokens
        self.bf16_encoder = bf16_encoder

    @classmethod
    def load(cls, model: str = "tiny.en", window_seconds: float | None = None, device: str = "cpu",
             batch_size: int = 16, max_new_tokens: int | None = None,
             bf16_encoder: bool = False) -> "WhisperASR":
        """`max_new_tokens`: tokens per window (None: 16 + 8 per second of window, at most 224)."""
        whisper_model, _ = load_whisper(model)
        return cls(whisper_model, window_seconds=window_seconds, device=device,
                   batch_size=batch_size, max_new_tokens=max_new_tokens, bf16_encoder=bf16_encoder)

    def _features(self, mels):
        """Encoder states in fp32 (whisper's decode skips its encoder when given them)."""
        import torch

        with torch.autocast(self.device, dtype=torch.bfloat16, enabled=self.bf16_encoder):
            return self.model.encoder(mels).float()

    def _decode(self, pieces: list[np.ndarray]) -> list[str]:
        import torch
        from whisper.decoding import DecodingOptions, decode

        limit = self.model.dims.n_text_ctx // 2  # Whisper's own cap (the prompt takes the rest)
        cap = self.max_new_tokens or 16 + math.ceil(TOKENS_PER_SECOND_CAP * self.window_seconds)
        opts = DecodingOptions(task="transcribe", language="en", temperature=0.0,
                               without_timestamps=True, fp16=False, sample_len=min(cap, limit))
        texts: list[str] = []
        with torch.inference_mode():
            for s in range(0, len(pieces), self.batch_size):
                batch = pieces[s:s + self.batch_size]
                mels = window_mels(batch, self.model.dims.n_mels, self.model.dims.n_audio_ctx)
                feats = self._features(mels.to(self.device))
                texts += [r.text.strip() for r in decode(self.model, feats, opts)]
        return texts

    def transcribe_batch(self, waves: Sequence[np.ndarray]) -> list[str]:
        """16 kHz float32 mono clips -> one English transcript each (longer than the window:
        transcribed window by window and joined)."""
        pieces, owner = [], []
        for i, w in enumerate(waves):
            for c in chunk(as_wave(w), self.window_seconds, SAMPLE_RATE):
                pieces.append(c)
                owner.append(i)
        out: list[list[str]] = [[] for _ in waves]
        for i, text in zip(owner, self._decode(pieces) if pieces else []):
            if text:
                out[i].append(text)
        return [" ".join(parts) for parts in out]

    def transcribe(self, wave: np.ndarray) -> str:
        return self.transcribe_batch([wave])[0]
