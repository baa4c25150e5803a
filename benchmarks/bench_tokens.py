"""Speech tokens: speaker invariance and encode throughput, log-mel codebook vs Whisper k-means.

    .venv/bin/python benchmarks/bench_tokens.py [--sentences 10] [--window 5] [--clips 12] [--asr-clips 12]

Every tokenizer is fit (k-means, 512 codes) on the same clips: the sentences spoken by four
espeak-ng training voices. It is then scored on four voices of accents it never saw:
1. speaker invariance: normalized edit distance (Levenshtein / longer length) between the codes
   of the same sentence by two different held-out voices, against the distance between
   different sentences by different held-out voices (ratio: lower is better), and how often the
   nearest training utterance (by that distance) of a held-out one is the same sentence;
2. the shortened encoder window: the 30 s tokenizer's codebook applied to states from a shorter
   window, on the held-out clips: fraction of identical codes and edit distance vs the 30 s codes;
   the same for that window's encoder under bf16 autocast vs fp32 (the local `encoder_dtype`);
   and WhisperASR's WER / exact-match at 30 s vs 10 s and the shorter window;
3. encode throughput (clips/s) batched (16) and one clip at a time, at 1 and 2 torch threads.
The baseline of each row is measured in the same run on the same clips. Times are best-of
`--repeats`; other jobs on the machine shift all rows alike.
"""

from __future__ import annotations

import argparse
import time
import warnings
from itertools import combinations

import numpy as np

SENTENCES = [
    "what is the capital of japan", "what color is the banana", "how many legs does a spider have",
    "what is two plus three", "which animal says moo", "what do bees make",
    "how many days are in a week", "what is the opposite of hot", "where does the sun rise",
    "what do you call a baby cat", "what is frozen water called", "which planet do we live on",
]
FIT_VOICES = ["en-us+m1", "en-us+f1", "en-gb+m2", "en-gb+f2"]
HELDOUT_VOICES = ["en-gb-scotland+m3", "en-029+f3", "en-gb-x-gbclan+m4", "en-gb-x-gbcwmd+f4"]


def ned(a: list[int], b: list[int]) -> float:
    """Levenshtein distance / length of the longer sequence (0 = identical, 1 = nothing shared)."""
    if not a or not b:
        return float(bool(a or b))
    prev = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        cur = [i]
        for j, y in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (x != y)))
        prev = cur
    return prev[-1] / max(len(a), len(b))


def invariance(test: dict, train: dict) -> tuple[float, float, float]:
    """`test`/`train`: {(sentence, voice): codes}. Returns (same-sentence NED, different-sentence
    NED, nearest-training-utterance accuracy)."""
    same, diff = [], []
    for (k1, c1), (k2, c2) in combinations(test.items(), 2):
        if k1[1] == k2[1]:
            continue  # only pairs of different voices: the question is what survives a voice change
        (same if k1[0] == k2[0] else diff).append(ned(c1, c2))
    hits = 0
    for (s, _), c in test.items():
        nearest = min(train.items(), key=lambda kv: ned(c, kv[1]))
        hits += nearest[0][0] == s
    return float(np.mean(same)), float(np.mean(diff)), hits / len(test)


class Memo:
    """Caches an encoder's states per clip for the quality sections (fit and scoring see the same
    clips; the states are the same either way). Throughput rows use the tokenizer's own encoder."""

    def __init__(self, encoder):
        self.encoder, self.model, self.dtype, self.cache = encoder, encoder.model, encoder.dtype, {}

    def __call__(self, pieces):
        keys = [(len(p), hash(p.tobytes())) for p in pieces]
        todo = [(k, p) for k, p in zip(keys, pieces) if k not in self.cache]
        for (k, _), states in zip(todo, self.encoder([p for _, p in todo]) if todo else []):
            self.cache[k] = states
        return [self.cache[k] for k in keys]


def best_of(repeats: int, fn) -> tuple[float, float]:
    """Best wall time and best process CPU time (all threads) of `fn` over `repeats` runs: on a
    loaded machine the CPU time still says what a clip costs."""
    wall = cpu = float("inf")
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall, cpu = min(wall, time.perf_counter() - t), min(cpu, time.process_time() - c)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sentences", type=int, default=8, help="sentences per voice (<= 12)")
    ap.add_argument("--window", type=float, default=5.0, help="shortened encoder window, seconds")
    ap.add_argument("--clips", type=int, default=8, help="clips per throughput row")
    ap.add_argument("--asr-clips", type=int, default=8, help="held-out clips transcribed per window (0: skip)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads outside the throughput rows")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")

    import torch

    from ichigo.config import SpeechTokenizerConfig
    from ichigo.eval.asr import wer_cer
    from ichigo.speech_tokenizer import fit_codebook
    from ichigo.speech_tokenizer.whisper_asr import WhisperASR
    from ichigo.speech_tokenizer.whisper_kmeans import WhisperEncoderStates, fit_whisper_kmeans
    from ichigo.speech_tokenizer.whisper_weights import load_whisper
    from ichigo.transcripts import normalize_transcript
    from ichigo.tts import EspeakTTS

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    sentences = SENTENCES[: args.sentences]
    tts = EspeakTTS()
    fit = {(s, v): w for v in FIT_VOICES for s, w in zip(sentences, tts.synthesize(sentences, v))}
    held = {(s, v): w for v in HELDOUT_VOICES for s, w in zip(sentences, tts.synthesize(sentences, v))}
    fit_waves, held_waves = list(fit.values()), list(held.values())
    secs = sum(map(len, held_waves)) / 16000 / len(held_waves)
    print(f"{len(sentences)} sentences; fit on {len(FIT_VOICES)} voices ({len(fit)} clips), scored on "
          f"{len(HELDOUT_VOICES)} held-out accents ({len(held)} clips, mean {secs:.2f} s)\n")

    base = dict(codebook_size=512, fit_seconds=1e6, batch_size=16)
    toks = {"log-mel codebook": fit_codebook(fit_waves, SpeechTokenizerConfig(**base), progress=False)}
    wcfg = SpeechTokenizerConfig(backend="whisper_vq", quantizer="kmeans", **base)
    own_encoders = {}
    for window in (None, args.window):
        name = f"whisper tiny.en {window or 30:g} s"
        own_encoders[name] = WhisperEncoderStates(load_whisper("tiny.en")[0], window or 30.0, batch_size=16)
        toks[name] = fit_whisper_kmeans(fit_waves, wcfg.model_copy(update={"window_seconds": window}),
                                        progress=False, encoder=Memo(own_encoders[name]))
    fit_s = time.perf_counter() - t0

    print("1. speaker invariance on held-out accents (normalized code edit distance)")
    print(f"| {'tokenizer':24} | same sentence, other voice | other sentence, other voice | ratio | "
          "nearest training utterance = same sentence |")
    print("|---|---|---|---|---|")
    codes = {}
    for name, tok in toks.items():
        tr = dict(zip(fit, tok.encode_batch(fit_waves)))
        te = dict(zip(held, tok.encode_batch(held_waves)))
        codes[name] = te
        same, diff, acc = invariance(te, tr)
        print(f"| {name:24} | {same:.3f} | {diff:.3f} | {same / diff:.2f} | {acc:.0%} |")

    print(f"\n2. {args.window:g} s window vs 30 s, held-out clips")
    full = toks["whisper tiny.en 30 s"]
    model, _ = load_whisper("tiny.en")
    windowed = type(full)(WhisperEncoderStates(model, args.window, batch_size=16), full.centres, full.mean,
                          full.scale, full.meta)
    def agreement(label: str, a: dict, b: dict) -> None:
        same = sum(int(x == y) for k in a for x, y in zip(a[k], b[k])) / sum(len(a[k]) for k in a)
        print(f"| {label} | identical codes {same:.1%} | mean edit distance "
              f"{np.mean([ned(a[k], b[k]) for k in a]):.3f} |")

    agreement("codes (30 s codebook)", codes["whisper tiny.en 30 s"],
              dict(zip(held, windowed.encode_batch(held_waves))))
    # the local profile's encoder_dtype: the same codebook and window, the encoder under bf16 autocast
    small_name, bf16_name = f"whisper tiny.en {args.window:g} s", f"whisper tiny.en {args.window:g} s bf16"
    small = toks[small_name]
    toks[bf16_name] = type(small)(WhisperEncoderStates(model, args.window, batch_size=16, dtype="bfloat16"),
                                  small.centres, small.mean, small.scale, small.meta)
    own_encoders[bf16_name] = toks[bf16_name].encoder
    agreement(f"{args.window:g} s codes, bf16 vs fp32 encoder", codes[small_name],
              dict(zip(held, toks[bf16_name].encode_batch(held_waves))))
    if args.asr_clips:
        keys = list(held)[:: max(1, len(held) // args.asr_clips)][: args.asr_clips]
        clips, refs = [held[k] for k in keys], [k[0] for k in keys]
        for window in dict.fromkeys((None, 10.0, args.window)):  # 10 s: the ASR's sweet spot here
            asr = WhisperASR.load("tiny.en", window_seconds=window, batch_size=16)
            asr.transcribe(clips[0])  # warm-up
            t, c = time.perf_counter(), time.process_time()
            hyps = asr.transcribe_batch(clips)
            dt, dc = (time.perf_counter() - t) / len(clips), (time.process_time() - c) / len(clips)
            exact = np.mean([normalize_transcript(h) == r for h, r in zip(hyps, refs)])
            print(f"| WhisperASR {window or 30:g} s window | WER {wer_cer(refs, hyps)[0]:.1%} | exact "
                  f"{exact:.0%} | {dt * 1000:.0f} ms/clip ({dc * 1000:.0f} ms CPU) at {args.threads} threads, {len(clips)} clips |")

    print(f"\n3. encode throughput, clips/s ({args.clips} held-out clips, mean {secs:.2f} s)")
    print(f"| {'tokenizer':24} | threads | one at a time | batched (16) | speed-up | CPU ms/clip one / batched |")
    print("|---|---|---|---|---|---|")
    clips = held_waves[: args.clips]
    for name, enc in own_encoders.items():
        toks[name].encoder = enc
    for name, tok in toks.items():
        for threads in (1, 2):
            torch.set_num_threads(threads)
            tok.encode_batch(clips[:2])  # warm-up
            (one, one_cpu) = best_of(args.repeats, lambda: [tok.encode(c) for c in clips])
            (batched, batched_cpu) = best_of(args.repeats, lambda: tok.encode_batch(clips))
            print(f"| {name:24} | {threads} | {len(clips) / one:.1f} | {len(clips) / batched:.1f} | "
                  f"{one / batched:.2f}x | {one_cpu / len(clips) * 1e3:.0f} / {batched_cpu / len(clips) * 1e3:.0f} |")
    print(f"\n(fit of the three tokenizers {fit_s:.0f} s; whole run {time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
