"""The one evaluation entry point: every metric for one candidate model, written to `out_dir`.

```
out_dir/metrics.json       flat {name: float} (names below are stable: the gate, MLflow, reports;
                           each declared benchmark adds bench/<name>/{score,n,ci_low,ci_high})
out_dir/benchmarks.json    one row per benchmark: name, kind, metric, n, score, 95% interval, extra
out_dir/predictions.jsonl  one record per scored item, tagged with its metric
out_dir/.cache/            per-item results; an interrupted run resumes from them
```
The metrics file's name is ichigo.artifacts.MODEL_METRICS_FILE.
Inputs: `eval_dir/qa.parquet` (spoken held-out questions with reference answers and WAVs) and
`eval_dir/noise.parquet` (real noise as sound codes), both `ichigo.records.EvalItem` rows.
The declared benchmarks (`eval.benchmarks`) feed the gate's metrics: the first mmlu one gives
text_retention_*, the first speech_qa one speech_qa_*, the first asr_test one wer/cer (else
`eval_dir/asr.parquet`, the embedded world's ASR test split, else the held-out questions'
transcriptions; wer_questions/cer_questions are always the latter). Without `base_llm_dir` the
base accuracy and the relative drop are left out of metrics.json: the gate then needs them from
`base_metrics` and fails the check if it has neither. With `train_dir` (the stage datasets) the
held-out check runs first and fails the step when a benchmark repeats a training question
(`eval.held_out_check`).
"""

from __future__ import annotations

import gc
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ichigo.artifacts import MODEL_METRICS_FILE
from ichigo.config import EvalConfig, Profile, load_profile
from ichigo.errors import ConfigError, InputError
from ichigo.eval.asr import transcription_eval
from ichigo.files import write_json_atomic
from ichigo.records import EVAL_ASR_FILE, EvalItem, read_eval_items
from ichigo.eval.bench_run import (BenchResult, asr_result, budget, run_text_benchmark, speech_qa_result,
                                   spoken_items)
from ichigo.eval.benchmarks import LoadedBenchmark, load_benchmark
from ichigo.eval.by_family import family_metrics
from ichigo.eval.cache import ItemCache, fingerprint
from ichigo.eval.heldout import find_overlap, training_questions
from ichigo.eval.inaudible import random_code_items, refusal_eval
from ichigo.eval.judge import FallbackJudge, make_judge
from ichigo.eval.latency import first_token_latency, peak_memory_mb
from ichigo.eval.speech_qa import speech_qa
from ichigo.eval.typed_qa import typed_qa
from ichigo.eval.text_retention import relative_drop
from ichigo.model.checkpoint import load_pretrained
from ichigo.refusal import is_refusal

METRIC_NAMES = (
    "text_retention_acc", "text_retention_base_acc", "text_retention_drop", "speech_qa_score",
    "speech_qa_exact", "wer", "cer", "wer_questions", "cer_questions", "inaudible_refusal_random",
    "inaudible_refusal_noise", "false_refusal", "first_token_p50_ms", "first_token_p95_ms", "peak_memory_mb",
)

RESULT_SETTINGS = {"judge", "benchmarks", "mmlu_format", "max_new_tokens", "seed"}


@dataclass
class EvalResult:
    metrics: dict[str, float]
    metrics_path: Path
    predictions_path: Path
    benchmarks: list[dict] = field(default_factory=list)  # BenchResult.summary() per benchmark
    notes: list[str] = field(default_factory=list)  # held-out overlaps reported, judge fallback


def _device(profile: Profile) -> tuple[str, torch.dtype]:
    if profile.training.device == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError("training.device is cuda, so the eval runs on CUDA, but no GPU is visible; "
                              "use a GPU node or the local profile")
        return "cuda", torch.bfloat16 if profile.training.dtype == "bf16" else torch.float32
    return "cpu", torch.float32


def _load_llm(path: str | Path, device: str, dtype: torch.dtype, what: str):
    try:
        return load_pretrained(path, device=device, dtype=dtype)
    except FileNotFoundError as e:
        raise InputError(f"{what} model at {path} cannot be loaded: {e}") from None


def _read_items(path: Path, kind: str) -> list[EvalItem]:
    try:
        items = read_eval_items(path)
    except FileNotFoundError:
        raise InputError(f"eval set {path} does not exist: run the data step that writes the held-out "
                         "eval set (eval/qa.parquet, eval/noise.parquet)") from None
    items = [it for it in items if it.kind == kind]
    if not items:
        raise InputError(f"eval set {path} holds no items of kind {kind!r}")
    return items


def load_benchmarks(cfg: EvalConfig, cache_dir: Path, eval_dir: Path | None,
                    kinds: tuple[str, ...] | None = None) -> list[LoadedBenchmark]:
    """Every declared benchmark (of `kinds`), loaded and validated before any model work."""
    return [load_benchmark(b, cache_dir, eval_dir, cfg.seed) for b in cfg.benchmarks
            if kinds is None or b.kind in kinds]


def check_held_out(cfg: EvalConfig, benches: list[LoadedBenchmark], train_dir: str | Path) -> list[str]:
    """Fails (InputError naming the overlap) when a benchmark repeats a training question and
    its check is "fail"; returns the overlaps that are only reported."""
    train = training_questions(train_dir)
    failures, notes = [], []
    for b in benches:
        ov = find_overlap(b.spec.name, b.questions(), train)
        if not ov.shared:
            continue
        mode = b.spec.options.get("held_out_check", cfg.held_out_check)
        (failures if mode == "fail" else notes).append(ov.describe())
    if failures:
        raise InputError("held-out check failed (eval items must not repeat training questions; "
                         f"training rows in {train_dir}): " + " | ".join(failures))
    return [f"held-out check (report only): {n}" for n in notes]


def text_benchmark_scores(lm, benches: list[LoadedBenchmark], cfg: EvalConfig, cache_root: Path,
                          fp: str, label: str) -> list[BenchResult]:
    """Every text benchmark on one model (`label` names it in caches and progress bars)."""
    return [run_text_benchmark(lm, b, cfg, ItemCache(cache_root / f"{label}-{b.spec.name}.jsonl",
                                                     fingerprint(fp, label, b.spec.name)), f"{b.spec.name} ({label})")
            for b in benches if b.spec.is_text]


def _bench_metrics(r: BenchResult) -> dict[str, float]:
    m = {f"bench/{r.name}/score": r.score, f"bench/{r.name}/n": r.n,
         f"bench/{r.name}/ci_low": r.ci_low, f"bench/{r.name}/ci_high": r.ci_high}
    if "macro_accuracy" in r.extra:
        m[f"bench/{r.name}/macro"] = r.extra["macro_accuracy"]
    return m


def text_curve_point(profile: Profile | str, llm_dir: str | Path, out_dir: str | Path, label: str,
                     eval_dir: str | Path | None = None) -> dict[str, dict]:
    """The text benchmarks of one model ({name: summary}): one point of the retention curve."""
    profile = load_profile(profile) if isinstance(profile, (str, Path)) else profile
    cfg, out = profile.eval, Path(out_dir)
    device, dtype = _device(profile)
    benches = load_benchmarks(cfg, out / ".cache" / "sources", None if eval_dir is None else Path(eval_dir),
                              ("mmlu", "mc", "exact"))
    if not benches:
        return {}
    lm = _load_llm(llm_dir, device, dtype, label)
    fp = fingerprint(cfg.model_dump(include=RESULT_SETTINGS), files=_model_files(llm_dir))
    res = text_benchmark_scores(lm, benches, cfg, out / ".cache", fp, label)
    del lm
    gc.collect()
    return {r.name: r.summary() for r in res}


def _model_files(d: str | Path) -> list[Path]:
    return sorted(p for p in Path(d).iterdir() if p.is_file())


def evaluate_model(profile: Profile | str, llm_dir: str | Path, eval_dir: str | Path,
                   speech_tokenizer_path: str | Path, out_dir: str | Path,
                   base_llm_dir: str | Path | None = None, max_items: int | None = None,
                   train_dir: str | Path | None = None) -> EvalResult:
    t_start = time.time()
    profile = load_profile(profile) if isinstance(profile, (str, Path)) else profile
    cfg = profile.eval
    out, eval_dir = Path(out_dir), Path(eval_dir)
    out.mkdir(parents=True, exist_ok=True)
    cap = max_items or cfg.max_items
    device, dtype = _device(profile)

    # Fail early: every input is checked before the first minute of work.
    qa = _read_items(eval_dir / "qa.parquet", "qa")[:cap]
    noise = _read_items(eval_dir / "noise.parquet", "noise")[:cap]
    asr_path = eval_dir / EVAL_ASR_FILE
    asr_test = _read_items(asr_path, "asr")[:cap] if asr_path.is_file() else []
    if not Path(speech_tokenizer_path).exists() and not str(speech_tokenizer_path).startswith("s3://"):
        raise InputError(f"speech tokenizer checkpoint {speech_tokenizer_path} does not exist")
    benches = load_benchmarks(cfg, out / ".cache" / "sources", eval_dir)
    notes = check_held_out(cfg, benches, train_dir) if train_dir is not None else []
    lm = _load_llm(llm_dir, device, dtype, "candidate")
    if lm.tokenizer.sound is None:
        raise InputError(f"{llm_dir} has no sound tokens: evaluate the speech model, not the base LLM")
    from ichigo.speech_tokenizer import load_speech_tokenizer
    speech_tok = load_speech_tokenizer(profile.speech_tokenizer, speech_tokenizer_path, device=device)

    # what the cached per-item results depend on (thresholds do not: they only feed the gate)
    settings = cfg.model_dump(include=RESULT_SETTINGS)
    fp = fingerprint(settings, cap, str(eval_dir), files=[*_model_files(llm_dir),
                                                          eval_dir / "qa.parquet", eval_dir / "noise.parquet",
                                                          *([asr_path] if asr_test else [])])

    def cache(name: str) -> ItemCache:
        return ItemCache(out / ".cache" / f"{name}.jsonl", fingerprint(fp, name))

    metrics: dict[str, float] = {}
    preds: list[dict] = []

    results: list[BenchResult] = []
    cand_text = text_benchmark_scores(lm, benches, cfg, out / ".cache", fp, "candidate")
    results += cand_text
    for r in cand_text:
        preds += [{"metric": f"bench/{r.name}", **p} for p in r.predictions]
    mmlu = next((r for r in cand_text if r.kind == "mmlu"), None)
    if mmlu is not None:
        metrics |= {"text_retention_acc": mmlu.score, "n_text_retention": mmlu.n}
    if base_llm_dir is not None and cand_text:
        base = _load_llm(base_llm_dir, device, dtype, "base")
        base_fp = fingerprint(settings, "base", files=_model_files(base_llm_dir))
        base_text = text_benchmark_scores(base, benches, cfg, out / ".cache", base_fp, "base")
        del base
        gc.collect()
        for r in base_text:
            metrics[f"bench/{r.name}/base_score"] = r.score
            preds += [{"metric": f"bench/{r.name}/base", **p} for p in r.predictions]
        bm = next((r for r in base_text if r.kind == "mmlu"), None)
        if mmlu is not None and bm is not None:
            metrics |= {"text_retention_base_acc": bm.score,
                        "text_retention_drop": relative_drop(mmlu.score, bm.score)}

    judge = make_judge(cfg.judge, out / ".cache" / "judge_verdicts.jsonl")
    spoken = {b.spec.name: b for b in benches if not b.spec.is_text}
    family_items = [*qa, *asr_test]  # items whose voice family is known: metrics per held-out family
    try:
        for b in spoken.values():
            synth = _synthesizer(profile)
            items = _with_voices(spoken_items(b, speech_tok, synth, cap), b, synth, profile)
            family_items += items
            if b.spec.kind == "speech_qa":
                r = speech_qa_result(b.spec, speech_qa(lm, items, judge, budget(b.spec, cfg), cache(f"bench-{b.spec.name}"),
                                                        cfg.batch_size, cfg.judge.concurrency if cfg.judge.base_url else 1))
            else:
                r = asr_result(b.spec, transcription_eval(lm, items, budget(b.spec, cfg), cache(f"bench-{b.spec.name}"),
                                                          cfg.batch_size))
            results.append(r)
            preds += [{"metric": f"bench/{r.name}", **p} for p in r.predictions]
        # refusals of audible questions are measured on the held-out eval set's own questions
        sqa = speech_qa(lm, qa, judge, cfg.max_new_tokens, cache("speech_qa"), cfg.batch_size,
                        cfg.judge.concurrency if cfg.judge.base_url else 1) \
            if not any(b.spec.kind == "speech_qa" for b in spoken.values()) else None
    finally:
        getattr(judge, "close", lambda: None)()
    if isinstance(judge, FallbackJudge) and judge.fell_back:
        notes.append(f"judge unreachable, offline scorer used instead (eval.judge.offline_fallback): {judge.fell_back}")
    first_sqa = next((r for r in results if r.kind == "speech_qa"), None)
    if first_sqa is not None:
        recs = first_sqa.predictions
        metrics |= {"speech_qa_score": first_sqa.score, "speech_qa_exact": first_sqa.extra["exact"],
                    "n_speech_qa": first_sqa.n, "judge_unparseable": first_sqa.extra["unparseable_verdicts"]}
    else:
        recs = sqa.predictions
        metrics |= {"speech_qa_score": sqa.score, "speech_qa_exact": sqa.exact, "n_speech_qa": sqa.n,
                    "judge_unparseable": sum(1 for r in recs if r.get("parsed") is False)}
        preds += [{"metric": "speech_qa", **p} for p in recs]
    false_refusals = [r for r in recs if is_refusal(r["prediction"])]
    metrics["false_refusal"] = len(false_refusals) / len(recs)
    for r in results:
        metrics |= _bench_metrics(r)

    # the same held-out questions typed in every casing and punctuation
    tq = typed_qa(lm, qa, cfg.max_new_tokens, cache("typed_qa"), cfg.batch_size)
    metrics |= {"typed_qa_exact": tq.exact, "n_typed_qa": tq.n,
                **{f"typed_qa_exact/{form}": v for form, v in tq.by_form.items()}}
    preds += [{"metric": "typed_qa", **p} for p in tq.predictions]

    # WER: a declared asr_test benchmark, else the ASR test split, else the questions themselves
    questions = transcription_eval(lm, qa, cfg.max_new_tokens, cache("asr"), cfg.batch_size)
    metrics |= {"wer_questions": questions.wer, "cer_questions": questions.cer, "n_asr_questions": questions.n}
    preds += [{"metric": "asr_questions", **p} for p in questions.predictions]
    bench_asr = next((r for r in results if r.kind == "asr_test"), None)
    if bench_asr is not None:
        wer, cer, n_asr, asr_preds = bench_asr.score, bench_asr.extra["cer"], bench_asr.n, bench_asr.predictions
    else:
        split = questions
        if asr_test:
            split = transcription_eval(lm, asr_test, cfg.max_new_tokens, cache("asr_test"), cfg.batch_size)
            preds += [{"metric": "asr", **p} for p in split.predictions]
        wer, cer, n_asr, asr_preds = split.wer, split.cer, split.n, split.predictions
    metrics |= {"wer": wer, "cer": cer, "n_asr": n_asr}
    metrics |= family_metrics(family_items, recs, asr_preds)

    rnd = refusal_eval(lm, random_code_items([len(it.codes) for it in qa], len(qa), cfg.seed),
                       cfg.max_new_tokens, cache("inaudible_random"), "random codes", cfg.batch_size)
    nse = refusal_eval(lm, noise, cfg.max_new_tokens, cache("inaudible_noise"), "noise", cfg.batch_size)
    metrics |= {"inaudible_refusal_random": rnd.rate, "n_inaudible_random": rnd.n,
                "inaudible_refusal_noise": nse.rate, "n_inaudible_noise": nse.n}
    preds += [{"metric": "inaudible_random", **p} for p in rnd.predictions]
    preds += [{"metric": "inaudible_noise", **p} for p in nse.predictions]

    lat = first_token_latency(lm, speech_tok, [it.audio_wav for it in qa], cfg.latency_runs,
                              cfg.latency_warmup)
    metrics |= {"first_token_p50_ms": lat.p50_ms, "first_token_p95_ms": lat.p95_ms,
                "first_token_mean_ms": lat.mean_ms, "n_latency_runs": lat.n,
                "peak_memory_mb": peak_memory_mb(device)}
    preds.append({"metric": "latency", "id": "first_token", "samples_ms": lat.samples_ms})

    metrics = {k: float(v) for k, v in metrics.items()}
    metrics["eval_seconds"] = round(time.time() - t_start, 2)
    metrics_path, preds_path = out / MODEL_METRICS_FILE, out / "predictions.jsonl"
    tmp = preds_path.with_name(preds_path.name + ".tmp")
    tmp.write_text("".join(json.dumps(p) + "\n" for p in preds))
    tmp.replace(preds_path)
    judge_name = first_sqa.extra["judge"] if first_sqa is not None else sqa.judge
    summaries = [r.summary() for r in results]
    write_json_atomic(out / "benchmarks.json", {"benchmarks": summaries, "judge": judge_name, "notes": notes})
    write_json_atomic(metrics_path, metrics)
    return EvalResult(metrics, metrics_path, preds_path, summaries, notes)


def _synthesizer(profile: Profile):
    """Speaks text-only benchmark items with the profile's held-out voices (round-robin), built
    on first use: benchmarks with audio never start a TTS."""
    state: dict = {}
    voice_of: dict[str, str] = {}  # spoken text -> the held-out voice that spoke it

    def speak(texts: list[str], offset: int = 0) -> list:
        from ichigo.audio import to_16k
        from ichigo.tts import make_tts
        voices = profile.tts.heldout_voices
        if not voices:
            raise ConfigError("text-only speech_qa items need tts.heldout_voices to be spoken by")
        tts = state.setdefault("tts", make_tts(profile.tts))
        waves = []
        for i, t in enumerate(texts):
            voice_of[t] = voices[(offset + i) % len(voices)]
            w = tts.synthesize([t], voice_of[t])[0]
            waves.append(to_16k(w, tts.sample_rate))
        return waves
    speak.voice_of = voice_of
    return speak


def _with_voices(items: list[EvalItem], bench, synth, profile: Profile) -> list[EvalItem]:
    """Benchmark items spoken by a held-out voice carry that voice and its family."""
    from ichigo.tts.families import family_of
    spoken_text = {x.id: getattr(x, "text", "") for x in bench.data}
    for it in items:
        voice = synth.voice_of.get(spoken_text.get(it.id, ""))
        if voice:
            it.voice, it.family = voice, family_of(voice, profile.tts)
    return items
