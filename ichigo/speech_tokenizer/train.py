"""Step 2: get a speech tokenizer ready. codebook and whisper_vq + kmeans: fit on train-split audio
only (never eval voices); whisper_vq + rq: fetch the checkpoint (local or s3://) and check that it
loads and encodes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ichigo.audio import AudioError, load_16k
from ichigo.config import Profile
from ichigo.files import shard_paths, write_json_atomic
from ichigo.errors import ConfigError

CODEBOOK_FILE = "codebook.npz"
WHISPER_KMEANS_FILE = "whisper_kmeans.npz"


def _train_waves(corpus_dir: Path, seconds: float, seed: int) -> list[np.ndarray]:
    """Train-split speech (no noise), shards visited in a seeded order until `seconds` is reached.
    The order is over shards that hold train rows: eval-only shards (the held-out questions, the
    ASR test split) must not move it, or a bigger eval set would change the trained model."""
    paths = [p for p in shard_paths(corpus_dir)
             if "train" in pq.read_table(p, columns=["split"]).column("split").to_pylist()]
    order = np.random.default_rng(seed).permutation(len(paths))
    waves, total = [], 0.0
    for i in tqdm(order, desc="tokenizer fit audio", leave=False):
        t = pq.read_table(paths[i], columns=["split", "kind", "audio_wav"],
                          filters=[("split", "=", "train")])
        for kind, wav in zip(t.column("kind").to_pylist(), t.column("audio_wav").to_pylist()):
            if kind == "noise" or not wav:
                continue
            try:
                w = np.concatenate(load_16k(wav))
            except AudioError:
                continue
            waves.append(w)
            total += len(w) / 16000
        if total >= seconds:
            break
    return waves


def fit_tokenizer_step(profile: Profile, corpus_dir: str | Path, out_dir: str | Path) -> Path:
    """Returns the tokenizer file to pass to `tokenize_corpus` / `load_speech_tokenizer`."""
    cfg = profile.speech_tokenizer
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if cfg.backend == "codebook":
        from ichigo.speech_tokenizer.codebook import CodebookTokenizer, fit_codebook
        path = out_dir / CODEBOOK_FILE
        if path.is_file():  # idempotent: same inputs, same seed -> same codebook
            tok = CodebookTokenizer.load(path)
        else:
            waves = _train_waves(Path(corpus_dir), cfg.fit_seconds, cfg.seed)
            if not waves:
                raise ConfigError(f"no usable train-split speech in {corpus_dir} to fit the codebook")
            tok = fit_codebook(waves, cfg)
            tok.save(path)
        summary = {"backend": "codebook", "path": str(path), **tok.meta.__dict__}
    elif cfg.quantizer == "kmeans":
        from ichigo.speech_tokenizer.whisper_kmeans import WhisperKMeansTokenizer, fit_whisper_kmeans
        from ichigo.speech_tokenizer.whisper_weights import locate_weights
        locate_weights(cfg.whisper_model)  # a missing weights package fails before any audio is read
        path = out_dir / WHISPER_KMEANS_FILE
        if path.is_file():  # idempotent: same inputs, same seed, same weights -> same codebook
            tok = WhisperKMeansTokenizer.load(path, batch_size=cfg.batch_size)
        else:
            waves = _train_waves(Path(corpus_dir), cfg.fit_seconds, cfg.seed)
            if not waves:
                raise ConfigError(f"no usable train-split speech in {corpus_dir} to fit the Whisper k-means")
            tok = fit_whisper_kmeans(waves, cfg)
            tok.save(path)
        summary = {"backend": "whisper_vq", "quantizer": "kmeans", "path": str(path), **tok.meta.__dict__}
    else:
        from ichigo.speech_tokenizer.whisper_vq import WhisperVQTokenizer
        if not cfg.checkpoint:
            raise ConfigError("speech_tokenizer.checkpoint is required for the whisper_vq backend")
        tok = WhisperVQTokenizer.load(cfg.checkpoint, batch_size=cfg.batch_size,
                                      max_chunk_seconds=cfg.max_chunk_seconds)
        probe = tok.encode(np.sin(np.arange(16000, dtype=np.float32) / 5.0) * 0.3)
        if len(probe) != 25 or not all(0 <= c <= 512 for c in probe):
            raise ConfigError(f"{cfg.checkpoint}: 1 s of audio gave {len(probe)} codes, expected 25 in 0..512")
        path = tok.save(out_dir / "whisper_vq.model")
        summary = {"backend": "whisper_vq", "path": str(path), "source": cfg.checkpoint}
    write_json_atomic(out_dir / "manifest.json", summary)
    return path
