"""Data-synthesis throughput, measured against its own baseline in the same run.

    .venv/bin/python benchmarks/bench_data.py [--utterances 400] [--clips 32] [--texts 16] [--repeats 3]

1. speech corpus: utterances/s with 1 vs 2 TTS worker processes (espeak-ng, local profile voices);
   target >= 1.7x on 2 cores.
2. WhisperVQ encoding (real architecture, random weights at small dims): batched (16) vs one clip
   at a time, at 1 and at 2 torch threads; target >= 3x.
3. WhisperSpeech synthesis (whisperspeech's T2S / S2A and Vocos at small dims, random weights,
   greedy so that both paths generate the same tokens): batched (8) vs one text at a time, at 1
   torch thread.

Fairness: both sides of a row run in the same process with the same thread count, on the same
inputs, after a warm-up; each side's time is the best of `--repeats` interleaved runs, so a burst
of load from other jobs does not land on one side only. The one-at-a-time WhisperVQ path is the
same code with a batch of one (the Whisper encoder takes only full 30 s windows and attends over
all of them without a mask, so neither side can pad less without changing the codes).
WhisperSpeech one-at-a-time is whisperspeech's own `generate`, with the same KV and
cross-attention caches as the batched path.

Threads: on a CPU a batch does not save arithmetic (a 30 s window costs the same alone or in a
batch); what it saves is per-call overhead and thread synchronisation, which is small at 1 thread
and large at 2 threads when other jobs load the cores (an OpenMP barrier waits for a descheduled
thread at every small op). The WhisperVQ rows therefore show both; WhisperSpeech is measured at
1 thread only, because at 2 threads on a loaded machine its one-at-a-time baseline (thousands of
tiny decoding steps) slows down by 10x or more and would inflate the speed-up.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np


def best_of(repeats: int, *fns):
    """Best wall time of each function over `repeats` interleaved rounds, and its last result."""
    times = [float("inf")] * len(fns)
    results = [None] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            results[i] = fn()
            times[i] = min(times[i], time.perf_counter() - t)
    return times, results


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


def bench_vq(clips: int, threads: int, repeats: int) -> tuple[float, float, bool]:
    import torch
    warnings.filterwarnings("ignore")
    from ichigo.speech_tokenizer.whisper_vq import build_random_whisper_vq
    torch.set_num_threads(threads)
    tok = build_random_whisper_vq(batch_size=16)
    rng = np.random.default_rng(0)
    waves = [(0.1 * rng.standard_normal(int(16000 * s))).astype(np.float32) for s in rng.uniform(1, 5, clips)]
    tok.encode_batch(waves[:4])  # warm-up (allocations, thread pools)
    tok.encode(waves[0])
    (t_single, t_batch), (single, batched) = best_of(
        repeats, lambda: [tok.encode(w) for w in waves], lambda: tok.encode_batch(waves))
    return clips / t_single, clips / t_batch, single == batched


SENTENCES = [
    "What is the capital of France?", "Please tell me a short story.", "How many legs does a spider have?",
    "Good morning.", "The quick brown fox jumps over the lazy dog.", "Name three primary colours.",
    "Why is the sky blue?", "Hello!", "What is seven times eight?", "Translate good night into French.",
    "Which planet is closest to the sun?", "Thanks.", "How do bees make honey?", "Count to five.",
    "What is the boiling point of water at sea level?", "Who wrote Hamlet?",
]


def bench_whisperspeech(n_texts: int, threads: int, repeats: int) -> tuple[float, float, bool]:
    import torch
    warnings.filterwarnings("ignore")
    from ichigo.tts.whisperspeech import WhisperSpeechTTS, build_random_whisperspeech
    torch.set_num_threads(threads)
    texts = [SENTENCES[i % len(SENTENCES)] for i in range(n_texts)]
    with tempfile.TemporaryDirectory() as d:
        tts = WhisperSpeechTTS(str(build_random_whisperspeech(d)), batch_size=8, temperature=0.0,
                               max_duration_factor=1.0)
    tts.synthesize(texts[:2], "default")  # warm-up
    tts.synthesize(texts[:1], "default", batched=False)
    (t_single, t_batch), (single, batched) = best_of(
        repeats, lambda: tts.synthesize(texts, "default", batched=False),
        lambda: tts.synthesize(texts, "default"))
    return n_texts / t_single, n_texts / t_batch, [w.shape for w in single] == [w.shape for w in batched]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--utterances", type=int, default=400)
    ap.add_argument("--clips", type=int, default=32)
    ap.add_argument("--texts", type=int, default=16)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    one, two = bench_tts(a.utterances)
    rows = [("TTS corpus, utterances/s", "1 worker", one, "2 workers", two, 1.7)]
    notes = []
    for threads in (1, 2):
        s, b, same = bench_vq(a.clips, threads, a.repeats)
        rows.append((f"WhisperVQ clips/s, {threads} thr", "one at a time", s, "batched (16)", b, 3.0))
        notes.append(f"WhisperVQ {threads} thread(s): batched codes identical to one-at-a-time: {same}")
    s, b, same = bench_whisperspeech(a.texts, 1, a.repeats)
    rows.append(("WhisperSpeech utt/s, 1 thr", "one at a time", s, "batched (8)", b, None))
    notes.append(f"WhisperSpeech: same wave shapes batched and one at a time: {same}")
    print(f"{'measure':30} {'baseline':>14} {'value':>9} {'variant':>13} {'value':>9} {'speed-up':>9} {'target':>7}")
    for name, bl, v0, var, v1, target in rows:
        tgt = f"{target:6.1f}x" if target else f"{'-':>7}"
        print(f"{name:30} {bl:>14} {v0:9.1f} {var:>13} {v1:9.1f} {v1 / v0:8.2f}x {tgt}")
    for n in notes:
        print(n)


if __name__ == "__main__":
    main()
