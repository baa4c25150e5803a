"""Early fusion vs the cascade baseline: same LLM, same spoken questions, same CPU, one run.

    .venv/bin/python benchmarks/bench_cascade.py [--package DIR | models:/ichigo-speech-llm/1]
                                                 [--questions 24] [--runs 20] [--threads 1]
                                                 [--cascade-window SECONDS]

Early fusion (Ichigo): WAV -> speech tokens -> the LLM's first token. Cascade: WAV -> Whisper
transcript (greedy, in `serving.cascade_window_seconds` windows) -> the same LLM on the text -> its
first token. The paper measured 111 ms vs 453 ms to first token on an A6000. Both paths are timed
turn by turn, interleaved, on held-out voices speaking the held-out question phrasing; both answer
the same questions for spoken-QA exact match (offline scorer) and both write down what was said:
WER on the same clips (early fusion asked with the recipe's transcription prompts, the cascade's
Whisper transcript; one normalisation, `ichigo.transcripts`). Without --package: the latest model
`make run` registered in ./runs, else the tests' tiny package (latency only means something then).
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ichigo import world  # noqa: E402
from ichigo.audio import wav_bytes  # noqa: E402
from ichigo.config import load_profile  # noqa: E402
from ichigo.eval.asr import transcription_eval, wer_cer  # noqa: E402
from ichigo.eval.cascade import cascade_speech_qa  # noqa: E402
from ichigo.eval.judge import OfflineJudge  # noqa: E402
from ichigo.eval.latency import first_token_ms  # noqa: E402
from ichigo.eval.speech_qa import speech_qa  # noqa: E402
from ichigo.records import EvalItem  # noqa: E402


def default_package(profile) -> str:
    """The newest version `make run` registered, else the tests' tiny package."""
    db = Path("runs/mlflow.db")
    if db.exists():
        try:
            from mlflow import MlflowClient

            client = MlflowClient(tracking_uri=profile.registry.tracking_uri)
            versions = client.search_model_versions(f"name='{profile.registry.model_name}'")
            if versions:
                return f"models:/{profile.registry.model_name}/{max(int(v.version) for v in versions)}"
        except Exception as e:  # an unreadable store: say so, fall back
            print(f"(runs/mlflow.db unreadable: {e}; using the tiny test package)")
    from benchmarks.bench_serving import tiny_package

    return str(tiny_package(Path("benchmarks/out/tiny_package")))


def spoken_questions(profile, n: int, seed: int = 0) -> list[tuple[str, str, np.ndarray]]:
    from ichigo.tts import make_tts

    rng = random.Random(seed)
    facts = rng.sample(world.all_facts(), n)
    voices = list(profile.tts.heldout_voices) or ["en-us"]
    tts = make_tts(profile.tts)
    out = []
    for i, f in enumerate(facts):
        wave = tts.synthesize([f.eval_question()], voices[i % len(voices)])[0]
        out.append((f.eval_question(), f.answer, wave))
    return out


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(xs), q))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--package", help="package dir or registry URI (default: see above)")
    ap.add_argument("--profile", default="local")
    ap.add_argument("--questions", type=int, default=24)
    ap.add_argument("--runs", type=int, default=20, help="timed turns per path")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (both paths alike)")
    ap.add_argument("--cascade-window", type=float,
                    help="the cascade's Whisper window in seconds (default: serving.cascade_window_seconds)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from ichigo.assistant import load_package_tokenizer
    from ichigo.model.checkpoint import load_pretrained
    from ichigo.package import llm_dir
    from ichigo.speech_tokenizer.whisper_asr import WhisperASR
    from serving.model_source import ModelSource

    from ichigo.config.profile import with_workdir

    overrides = {"serving": {"cascade_window_seconds": args.cascade_window}} if args.cascade_window is not None else None
    profile = with_workdir(load_profile(args.profile, overrides), "runs")  # the store `make run` writes
    uri = args.package or default_package(profile)
    pkg, version, _ = ModelSource(uri).resolve(profile)
    print(f"model: {uri} ({version}); {args.questions} held-out questions; {args.threads} thread(s); "
          f"cascade Whisper window {profile.serving.cascade_window_seconds:g} s")
    lm = load_pretrained(llm_dir(pkg))
    tok = load_package_tokenizer(pkg, profile)
    asr = WhisperASR.load(getattr(profile.speech_tokenizer, "whisper_model", None) or "tiny.en",
                          window_seconds=profile.serving.cascade_window_seconds)

    qs = spoken_questions(profile, args.questions)
    items = [EvalItem(f"q{i}", "qa", q, a, "heldout", tok.encode(w), wav_bytes(w))
             for i, (q, a, w) in enumerate(qs)]
    for it in items[:2]:  # warm-up, both paths
        first_token_ms(lm, tok, it.audio_wav), first_token_ms(lm, asr, it.audio_wav)
    ef, cs = [], []
    for r in range(args.runs):  # interleaved: both paths see the same machine state
        wav = items[r % len(items)].audio_wav
        ef.append(first_token_ms(lm, tok, wav))
        cs.append(first_token_ms(lm, asr, wav))
    qa_ef = speech_qa(lm, items, OfflineJudge(), 24, desc="speech QA (early fusion)")
    qa_cs, heard = cascade_speech_qa(lm, asr, items, OfflineJudge(), 24)
    wer_ef = transcription_eval(lm, items, 32).wer
    wer_cs = wer_cer([it.text for it in items], [heard[it.id] for it in items])[0]

    rows = [("early fusion (sound tokens)", ef, qa_ef, wer_ef), ("cascade (Whisper -> text)", cs, qa_cs, wer_cs)]
    print("\n| path | first token p50 | p95 | spoken-QA exact | judge (offline) | WER |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, lat, qa, wer in rows:
        print(f"| {name} | {pct(lat, 50):.1f} ms | {pct(lat, 95):.1f} ms | {qa.exact:.0%} | {qa.score:.2f} "
              f"| {wer:.3f} |")
    print(f"\ncascade / early fusion, first token p50: {pct(cs, 50) / pct(ef, 50):.2f}x "
          "(paper, A6000: 453 / 111 ms = 4.1x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
