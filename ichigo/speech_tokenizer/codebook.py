"""The embedded speech tokenizer: a k-means codebook over normalised log-mel frames at 25 Hz.

It is the CPU stand-in for WhisperVQ with the same interface and token rate: each 40 ms of
16 kHz audio becomes one code in 0..codebook_size-1. Features are log-mel energies with the
utterance mean removed (cancels channel gain and spectral tilt, which differ between voices)
and scaled by per-bin spread measured on the fit data. Fitting is deterministic for a seed.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm.auto import tqdm

from ichigo.audio import SAMPLE_RATE, chunk
from ichigo.config import SpeechTokenizerConfig
from ichigo.errors import ConfigError, InputError
from ichigo.speech_tokenizer.base import as_wave
from ichigo.speech_tokenizer.mel import log_mel

FORMAT = "ichigo-codebook-v1"
DYNAMIC_RANGE = 8.0  # log10 units (80 dB) kept below each utterance's loudest bin


@dataclass(frozen=True)
class CodebookMeta:
    n_mels: int
    codebook_size: int
    max_chunk_seconds: float
    seed: int
    fit_frames: int
    fit_seconds: float
    inertia: float


def _features(waves: list[np.ndarray], n_mels: int, scale: np.ndarray | None) -> list[np.ndarray]:
    out = []
    for m in log_mel(waves, n_mels):
        m = np.maximum(m, m.max() - DYNAMIC_RANGE)
        m = m - m.mean(axis=0, keepdims=True)
        out.append(m / scale if scale is not None else m)
    return out


def _sq_dists(x: np.ndarray, c: np.ndarray, c_sq: np.ndarray) -> np.ndarray:
    return (x * x).sum(1, keepdims=True) - 2.0 * (x @ c.T) + c_sq[None, :]


def kmeans(x: np.ndarray, k: int, seed: int, iters: int = 25, progress: bool = True
           ) -> tuple[np.ndarray, float]:
    """k-means++ seeding then Lloyd iterations; empty clusters re-seeded at the worst-fit points."""
    rng = np.random.default_rng(seed)
    n = len(x)
    if n < k:
        raise InputError(f"k-means needs at least {k} frames, got {n}: give the tokenizer more audio "
                         "(speech_tokenizer.fit_seconds) or a smaller codebook_size")
    centres = np.empty((k, x.shape[1]), dtype=np.float32)
    centres[0] = x[rng.integers(n)]
    closest = ((x - centres[0]) ** 2).sum(1)
    for i in range(1, k):
        probs = closest / closest.sum() if closest.sum() > 0 else None
        centres[i] = x[rng.choice(n, p=probs)]
        closest = np.minimum(closest, ((x - centres[i]) ** 2).sum(1))
    inertia = float("inf")
    for _ in tqdm(range(iters), desc="k-means", disable=not progress, leave=False):
        d = _sq_dists(x, centres, (centres ** 2).sum(1))
        assign = d.argmin(1)
        best = d[np.arange(n), assign]
        new_inertia = float(best.sum())
        counts = np.bincount(assign, minlength=k)
        sums = np.zeros_like(centres)
        np.add.at(sums, assign, x)
        filled = counts > 0
        centres[filled] = sums[filled] / counts[filled, None]
        empty = np.flatnonzero(~filled)
        if len(empty):
            centres[empty] = x[np.argsort(best)[::-1][: len(empty)]]
        if inertia - new_inertia <= 1e-6 * max(inertia, 1.0) and not len(empty):
            inertia = new_inertia
            break
        inertia = new_inertia
    return centres, inertia / n


class CodebookTokenizer:
    kind = "codebook"
    sample_rate = SAMPLE_RATE
    frame_rate = 25

    def __init__(self, centres: np.ndarray, scale: np.ndarray, meta: CodebookMeta):
        if centres.shape != (meta.codebook_size, meta.n_mels) or scale.shape != (meta.n_mels,):
            raise ConfigError(f"codebook shapes {centres.shape}/{scale.shape} do not match "
                              f"codebook_size={meta.codebook_size}, n_mels={meta.n_mels}")
        self.centres = centres.astype(np.float32)
        self.scale = scale.astype(np.float32)
        self.meta = meta
        self._c_sq = (self.centres ** 2).sum(1)

    def encode(self, wave: np.ndarray) -> list[int]:
        return self.encode_batch([wave])[0]

    def encode_batch(self, waves: Sequence[np.ndarray]) -> list[list[int]]:
        """Chunks long audio (features are frame-local, so chunking only bounds memory)."""
        pieces, owner = [], []
        for i, w in enumerate(waves):
            for c in chunk(as_wave(w), self.meta.max_chunk_seconds):
                pieces.append(c)
                owner.append(i)
        feats = _features(pieces, self.meta.n_mels, self.scale)
        codes = _sq_dists(np.concatenate(feats), self.centres, self._c_sq).argmin(1)
        out: list[list[int]] = [[] for _ in waves]
        start = 0
        for i, f in zip(owner, feats):
            out[i].extend(int(c) for c in codes[start:start + len(f)])
            start += len(f)
        return out

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, centres=self.centres, scale=self.scale,
                 meta=np.array(json.dumps({"format": FORMAT, **asdict(self.meta)})))
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "CodebookTokenizer":
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"codebook file {path} does not exist: run the fit_tokenizer step first")
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                centres, scale = z["centres"], z["scale"]
        except Exception as e:
            raise ConfigError(f"{path} is not a codebook tokenizer file ({e})") from None
        if meta.pop("format", None) != FORMAT:
            raise ConfigError(f"{path} is not in the {FORMAT} format")
        return cls(centres, scale, CodebookMeta(**meta))


def fit_codebook(waves: Sequence[np.ndarray], config: SpeechTokenizerConfig,
                 progress: bool = True) -> CodebookTokenizer:
    """Fit on (up to `config.fit_seconds` of) 16 kHz waves; the subset is chosen by the seed."""
    waves = [as_wave(w) for w in waves]
    if not waves:
        raise InputError("fit_codebook needs at least one wave")
    order = np.random.default_rng(config.seed).permutation(len(waves))
    chosen, total = [], 0.0
    for i in order:
        if total >= config.fit_seconds:
            break
        chosen.append(waves[i])
        total += len(waves[i]) / SAMPLE_RATE
    feats = np.concatenate(_features(chosen, config.n_mels, None))
    scale = feats.std(axis=0) + 1e-3
    centres, inertia = kmeans(feats / scale, config.codebook_size, config.seed, progress=progress)
    meta = CodebookMeta(n_mels=config.n_mels, codebook_size=config.codebook_size,
                        max_chunk_seconds=config.max_chunk_seconds, seed=config.seed,
                        fit_frames=len(feats), fit_seconds=round(total, 3), inertia=inertia)
    return CodebookTokenizer(centres, scale, meta)
