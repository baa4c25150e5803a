"""Voice-side costs of data synthesis, each against a baseline measured in the same run.

    .venv/bin/python benchmarks/bench_voices.py [--texts 12] [--repeats 3] [--gate]

1. TTS: clips/s of the Piper neural voice (onnxruntime, 1 thread) vs espeak-ng on the same texts.
   Piper session build (data synthesis rebuilds one per shard so that its noise replays): graph
   optimizations off (what PiperTTS does) vs onnxruntime's default ORT_ENABLE_ALL, build time and
   clips/s.
2. Augmentation: ms per clip for each sox effect and for the profile's default mix, vs the cost of
   rendering the clip (espeak-ng) - what augmentation adds to a corpus build.
3. With --gate: the ASR round-trip gate's cost per clip (Whisper tiny.en, 10 s window with the
   encoder in fp32 and in bf16 - the gate's setting on a CPU with native bf16 - and 30 s) and the
   WER it measures per voice, espeak-ng vs Piper, with how many verdicts match the fp32 10 s row.

Fairness: every row uses the same texts, one process, one thread, a warm-up, and the best of
`--repeats` interleaved runs (so a burst of load from other jobs does not land on one side only).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

TEXTS = [
    "What is the capital of Japan?", "The banana is yellow.", "How many legs does a spider have?",
    "Which planet is closest to the sun?", "The cat sat on the warm mat by the door.",
    "What color is the sky on a clear day?", "Paris is the capital of France.",
    "How many days are in a week?", "Water boils at one hundred degrees.",
    "Who wrote the play about the prince of Denmark?", "The moon goes around the earth.",
    "What do bees make?",
]


def best_of(repeats: int, *fns) -> list[float]:
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--texts", type=int, default=12)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--gate", action="store_true", help="also time the Whisper ASR gate")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    from ichigo.config.sections import AugmentConfig
    from ichigo.data.augment import AugmentPlan, apply_plan, augment
    from ichigo.tts import EspeakTTS
    from ichigo.tts.piper import PiperTTS

    texts = (TEXTS * (a.texts // len(TEXTS) + 1))[: a.texts]
    espeak, piper = EspeakTTS(), PiperTTS("joe")
    espeak.synthesize(texts[:1], "en-us+m1"), piper.synthesize(texts[:1], "piper:joe")  # warm-up
    te, tp = best_of(a.repeats, lambda: espeak.synthesize(texts, "en-us+m1:s160:p50"),
                     lambda: piper.synthesize(texts, "piper:joe"))
    waves = espeak.synthesize(texts, "en-us+m1:s160:p50")
    audio_s = sum(len(w) for w in waves) / 16000
    pw = piper.synthesize(texts, "piper:joe")
    p_audio = sum(len(w) for w in pw) / 16000
    print(f"\n## TTS ({len(texts)} texts, 1 thread)\n")
    print("| synthesizer | clips/s | x real time | audio s/clip |\n| --- | --- | --- | --- |")
    print(f"| espeak-ng (baseline) | {len(texts) / te:.1f} | {audio_s / te:.0f} | {audio_s / len(texts):.2f} |")
    print(f"| Piper joe-medium (onnxruntime) | {len(texts) / tp:.1f} | {p_audio / tp:.0f} | {p_audio / len(texts):.2f} |")
    print(f"| Piper cost vs espeak-ng | {tp / te:.1f}x slower | | |")

    import onnxruntime as ort
    from ichigo.tts.piper import voice_files

    def session(level):
        o = ort.SessionOptions()
        o.intra_op_num_threads = o.inter_op_num_threads = 1
        o.graph_optimization_level = level
        return ort.InferenceSession(str(voice_files("joe").model), o, providers=["CPUExecutionProvider"])

    levels = {"ORT_ENABLE_ALL (onnxruntime default, baseline)": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
              "ORT_DISABLE_ALL (PiperTTS)": ort.GraphOptimizationLevel.ORT_DISABLE_ALL}
    builds = best_of(a.repeats, *[lambda lv=lv: session(lv) for lv in levels.values()])
    rates = []
    for lv in levels.values():
        piper.session = session(lv)
        piper.synthesize(texts[:1], "piper:joe")
        rates.append(best_of(a.repeats, lambda: piper.synthesize(texts, "piper:joe"))[0])
    print("\n## Piper session build (one per synthesis shard)\n")
    print("| graph optimization | build s | clips/s |\n| --- | --- | --- |")
    for name, b, r in zip(levels, builds, rates):
        print(f"| {name} | {b:.2f} | {len(texts) / r:.1f} |")

    plans = {"speed 1.1": AugmentPlan(speed=1.1), "pitch +200c": AugmentPlan(pitch_cents=200),
             "reverb 50": AugmentPlan(reverberance=50), "telephone": AugmentPlan(telephone=True),
             "noise 15 dB": AugmentPlan(noise=("pink", 15.0)), "gain -6 dB": AugmentPlan(gain_db=-6.0),
             "all six": AugmentPlan(1.1, 200, 50, True, ("pink", 15.0), -6.0)}
    cfg = AugmentConfig(enabled=True)
    fns = [lambda p=p: [apply_plan(w, p, f"u{i}", 0) for i, w in enumerate(waves)] for p in plans.values()]
    fns.append(lambda: [augment(w, f"q-{i}", cfg, 0) for i, w in enumerate(waves)])
    times = best_of(a.repeats, *fns)
    print(f"\n## Augmentation (sox, per clip; baseline: rendering the clip with espeak-ng = {te / len(texts) * 1000:.1f} ms)\n")
    print("| effect | ms/clip | vs rendering |\n| --- | --- | --- |")
    for name, t in zip([*plans, "profile default mix"], times):
        print(f"| {name} | {t / len(texts) * 1000:.1f} | {t / te:.2f}x |")

    if a.gate:
        from ichigo.data.asr_gate import GATE_MAX_NEW_TOKENS, gate_wer
        from ichigo.speech_tokenizer.whisper_asr import WhisperASR
        rows, ref = [], None
        # the gate's setting (10 s, encoder in bf16 where the CPU has it) against fp32 and 30 s
        for window, bf16 in ((10.0, False), (10.0, True), (30.0, False)):
            asr = WhisperASR.load("tiny.en", window, max_new_tokens=GATE_MAX_NEW_TOKENS, bf16_encoder=bf16)
            asr.transcribe_batch(waves[:1])
            t_e, t_p = best_of(1, lambda: asr.transcribe_batch(waves), lambda: asr.transcribe_batch(pw))
            heard_e, heard_p = asr.transcribe_batch(waves), asr.transcribe_batch(pw)
            wer_e = [gate_wer(t, h) for t, h in zip(texts, heard_e)]
            wer_p = [gate_wer(t, h) for t, h in zip(texts, heard_p)]
            verdicts = [w <= 0.5 for w in wer_e + wer_p]
            ref = ref or verdicts
            same = sum(v == r for v, r in zip(verdicts, ref))
            rows.append((f"{window:.0f} s{' bf16 encoder' if bf16 else ''}", t_e / len(texts), t_p / len(texts),
                         np.mean(wer_e), np.mean(wer_p), f"{same}/{len(ref)}"))
        print("\n## ASR gate (Whisper tiny.en, 1 thread; verdicts at max WER 0.5 vs the first row)\n")
        print("| window | s/clip espeak | s/clip Piper | mean WER espeak-ng en-us+m1 | mean WER Piper | same verdict |")
        print("| --- | --- | --- | --- | --- | --- |")
        for w, se, sp, we, wp, same in rows:
            print(f"| {w} | {se:.3f} | {sp:.3f} | {we:.3f} | {wp:.3f} | {same} |")

if __name__ == "__main__":
    main()
