"""Data-synthesis throughput, measured against its own baseline in the same run.

    .venv/bin/python benchmarks/bench_data.py [--utterances 400] [--clips 32]

1. speech corpus: utterances/s with 1 vs 2 TTS worker processes (espeak-ng, local profile voices);
   target >= 1.7x on 2 cores.
2. WhisperVQ encoding (real architecture, random weights at small dims): batched vs one clip at
   a time; target >= 3x.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def bench_tts(n: int) -> tuple[float, float]:
    from ichigo.config import load_profile
    from ichigo.data.speech_corpus import build_speech_corpus
    rates = []
    for workers in (1, 2):
        prof = load_profile("local", overrides={"data": {
            "num_train_questions": n - 40, "num_eval_questions": 8, "stage1_utterances": 8}})
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            m = build_speech_corpus(prof, Path(d) / "c", workers=workers, shard_utterances=25, progress=False)
            rates.append(m.num_utterances / (time.perf_counter() - t))
    return rates[0], rates[1]


def bench_vq(clips: int) -> tuple[float, float, bool]:
    warnings.filterwarnings("ignore")
    from ichigo.speech_tokenizer.whisper_vq import build_random_whisper_vq
    tok = build_random_whisper_vq(batch_size=16)
    rng = np.random.default_rng(0)
    waves = [(0.1 * rng.standard_normal(int(16000 * s))).astype(np.float32) for s in rng.uniform(1, 5, clips)]
    tok.encode_batch(waves[:4])  # warm-up (allocations, thread pools)
    t = time.perf_counter()
    single = [tok.encode(w) for w in waves]
    t_single = time.perf_counter() - t
    t = time.perf_counter()
    batched = tok.encode_batch(waves)
    t_batch = time.perf_counter() - t
    return clips / t_single, clips / t_batch, single == batched


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--utterances", type=int, default=400)
    ap.add_argument("--clips", type=int, default=32)
    a = ap.parse_args()
    one, two = bench_tts(a.utterances)
    s, b, same = bench_vq(a.clips)
    rows = [("TTS corpus, utterances/s", "1 worker", one, "2 workers", two, 1.7),
            ("WhisperVQ encode, clips/s", "one at a time", s, "batched (16)", b, 3.0)]
    print(f"{'measure':28} {'baseline':>16} {'value':>9} {'variant':>14} {'value':>9} {'speed-up':>9} {'target':>7}")
    for name, bl, v0, var, v1, target in rows:
        print(f"{name:28} {bl:>16} {v0:9.1f} {var:>14} {v1:9.1f} {v1 / v0:8.2f}x {target:6.1f}x")
    print(f"batched codes identical to one-at-a-time: {same}")


if __name__ == "__main__":
    main()
