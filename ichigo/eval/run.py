"""The one evaluation entry point: every metric for one candidate model, written to `out_dir`.

```
out_dir/metrics.json       flat {name: float} (names below are stable: the gate, MLflow, reports)
out_dir/predictions.jsonl  one record per scored item, tagged with its metric
out_dir/.cache/            per-item results; an interrupted run resumes from them
```
Inputs: `eval_dir/qa.parquet` (spoken held-out questions with reference answers and WAVs) and
`eval_dir/noise.parquet` (real noise as sound codes), both `ichigo.data.records.EvalItem` rows.
Without `base_llm_dir` the base accuracy and the relative drop are left out of metrics.json:
the gate then needs them from `base_metrics` and fails the check if it has neither.
"""

from __future__ import annotations

import gc
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ichigo.config import EvalConfig, Profile, load_profile
from ichigo.data.records import EvalItem, read_eval_items, write_json_atomic
from ichigo.errors import ConfigError, InputError
from ichigo.eval.asr import transcription_eval
from ichigo.eval.by_family import family_metrics
from ichigo.eval.cache import ItemCache, fingerprint
from ichigo.eval.inaudible import random_code_items, refusal_eval
from ichigo.eval.judge import make_judge
from ichigo.eval.latency import first_token_latency, peak_memory_mb
from ichigo.eval.mc import MCItem, load_mc_source
from ichigo.eval.mmlu_embedded import embedded_mc_set
from ichigo.eval.speech_qa import speech_qa
from ichigo.eval.text_retention import relative_drop, text_retention
from ichigo.model.checkpoint import load_pretrained
from ichigo.refusal import is_refusal

METRIC_NAMES = (
    "text_retention_acc", "text_retention_base_acc", "text_retention_drop", "speech_qa_score",
    "speech_qa_exact", "wer", "cer", "inaudible_refusal_random", "inaudible_refusal_noise",
    "false_refusal", "first_token_p50_ms", "first_token_p95_ms", "peak_memory_mb",
)

RESULT_SETTINGS = {"judge_endpoint", "judge_model", "num_mmlu_shots", "mmlu_format", "max_new_tokens", "mmlu_source",
                   "max_mmlu_items", "seed"}


@dataclass
class EvalResult:
    metrics: dict[str, float]
    metrics_path: Path
    predictions_path: Path


def _device(profile: Profile) -> tuple[str, torch.dtype]:
    if profile.training.device == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"profile {profile.name!r} evaluates on CUDA (training.device) but no GPU "
                              "is visible; use a GPU node or the local profile")
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


def mc_sets(cfg: EvalConfig, cache_dir: Path) -> tuple[list[MCItem], list[MCItem]]:
    if cfg.mmlu_source:
        shots, items = load_mc_source(cfg.mmlu_source, cfg.num_mmlu_shots, cache_dir)
    else:
        shots, items = embedded_mc_set(cfg.max_mmlu_items or 200, cfg.num_mmlu_shots, cfg.seed)
    return shots, items[: cfg.max_mmlu_items] if cfg.max_mmlu_items else items


def _model_files(d: str | Path) -> list[Path]:
    return sorted(p for p in Path(d).iterdir() if p.is_file())


def evaluate_model(profile: Profile | str, llm_dir: str | Path, eval_dir: str | Path,
                   speech_tokenizer_path: str | Path, out_dir: str | Path,
                   base_llm_dir: str | Path | None = None, max_items: int | None = None) -> EvalResult:
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
    if not Path(speech_tokenizer_path).exists() and not str(speech_tokenizer_path).startswith("s3://"):
        raise InputError(f"speech tokenizer checkpoint {speech_tokenizer_path} does not exist")
    shots, mc_items = mc_sets(cfg, out / ".cache" / "sources")
    lm = _load_llm(llm_dir, device, dtype, "candidate")
    if lm.tokenizer.sound is None:
        raise InputError(f"{llm_dir} has no sound tokens: evaluate the speech model, not the base LLM")
    from ichigo.speech_tokenizer import load_speech_tokenizer
    speech_tok = load_speech_tokenizer(profile.speech_tokenizer, speech_tokenizer_path, device=device)

    # what the cached per-item results depend on (thresholds do not: they only feed the gate)
    settings = cfg.model_dump(include=RESULT_SETTINGS)
    fp = fingerprint(settings, cap, str(eval_dir), files=[*_model_files(llm_dir),
                                                          eval_dir / "qa.parquet", eval_dir / "noise.parquet"])

    def cache(name: str) -> ItemCache:
        return ItemCache(out / ".cache" / f"{name}.jsonl", fingerprint(fp, name))

    metrics: dict[str, float] = {}
    preds: list[dict] = []

    tr = text_retention(lm.model, lm.tokenizer, mc_items, shots, cfg.num_mmlu_shots,
                        cfg.batch_size, cache("text_retention"), fmt=cfg.mmlu_format)
    metrics |= {"text_retention_acc": tr.accuracy, "n_text_retention": tr.n}
    preds += [{"metric": "text_retention", **p} for p in tr.predictions]
    if base_llm_dir is not None:
        base = _load_llm(base_llm_dir, device, dtype, "base")
        base_fp = fingerprint(settings, "base", files=_model_files(base_llm_dir))
        base_cache = ItemCache(out / ".cache" / "text_retention_base.jsonl", base_fp)
        btr = text_retention(base.model, base.tokenizer, mc_items, shots, cfg.num_mmlu_shots,
                             cfg.batch_size, base_cache, desc="text retention (base)", fmt=cfg.mmlu_format)
        del base
        gc.collect()
        metrics |= {"text_retention_base_acc": btr.accuracy,
                    "text_retention_drop": relative_drop(tr.accuracy, btr.accuracy)}
        preds += [{"metric": "text_retention_base", **p} for p in btr.predictions]

    judge = make_judge(cfg)
    try:
        sqa = speech_qa(lm, qa, judge, cfg.max_new_tokens, cache("speech_qa"), cfg.batch_size,
                        cfg.judge_concurrency if cfg.judge_endpoint else 1)
    finally:
        getattr(judge, "close", lambda: None)()
    false_refusals = [r for r in sqa.predictions if is_refusal(r["prediction"])]
    metrics |= {"speech_qa_score": sqa.score, "speech_qa_exact": sqa.exact, "n_speech_qa": sqa.n,
                "false_refusal": len(false_refusals) / sqa.n}
    preds += [{"metric": "speech_qa", **p} for p in sqa.predictions]

    asr = transcription_eval(lm, qa, cfg.max_new_tokens, cache("asr"), cfg.batch_size)
    metrics |= {"wer": asr.wer, "cer": asr.cer, "n_asr": asr.n}
    metrics |= family_metrics(qa, sqa.predictions, asr.predictions)  # per held-out voice family
    preds += [{"metric": "asr", **p} for p in asr.predictions]

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
    metrics_path, preds_path = out / "metrics.json", out / "predictions.jsonl"
    tmp = preds_path.with_name(preds_path.name + ".tmp")
    tmp.write_text("".join(json.dumps(p) + "\n" for p in preds))
    tmp.replace(preds_path)
    write_json_atomic(metrics_path, metrics)
    return EvalResult(metrics, metrics_path, preds_path)
