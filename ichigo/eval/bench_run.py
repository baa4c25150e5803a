"""Scoring declared benchmarks on one model: text benchmarks (mmlu, mc, exact) by
log-likelihood or greedy replies, spoken ones (speech_qa, asr_test) after their audio is turned
into sound codes (held-out TTS voices for text-only items). Each gives a `BenchResult` with a
95% interval: Wilson for accuracies, bootstrap for the judge's mean, Wilson on the word error
count for WER (a rough per-word binomial view, labelled as such)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Callable

from ichigo.chat_template import Message, tokenize_chat
from ichigo.config.sections import BenchmarkSpec, EvalConfig
from ichigo.errors import InputError
from ichigo.eval.benchmarks import LoadedBenchmark
from ichigo.eval.stats import bootstrap_mean, wilson
from ichigo.records import EvalItem

DEFAULT_BUDGET = {"exact": 256, "speech_qa": 256, "asr_test": 128}  # new tokens per answer


@dataclass
class BenchResult:
    name: str
    kind: str
    metric: str  # what `score` is: "accuracy", "judge 0-5", "WER"
    n: int
    score: float
    ci_low: float
    ci_high: float
    extra: dict = field(default_factory=dict)  # macro average, judge name, unparseable count ...
    predictions: list[dict] = field(default_factory=list)

    def summary(self) -> dict:
        d = asdict(self)
        d.pop("predictions")
        return d


def budget(spec: BenchmarkSpec, cfg: EvalConfig) -> int:
    return spec.max_new_tokens or DEFAULT_BUDGET.get(spec.kind, cfg.max_new_tokens)


def macro_accuracy(subjects: list[str], correct: list[bool]) -> tuple[float, int]:
    """MMLU's macro average: the mean of per-subject accuracies (and the number of subjects)."""
    by: dict[str, list[bool]] = {}
    for s, c in zip(subjects, correct):
        by.setdefault(s or "(none)", []).append(c)
    return sum(sum(v) / len(v) for v in by.values()) / len(by), len(by)


def run_mc(model, tokenizer, bench: LoadedBenchmark, cfg: EvalConfig, cache=None, desc: str = "") -> BenchResult:
    from ichigo.eval.text_retention import text_retention

    spec, mcset = bench.spec, bench.data
    fmt = str(spec.options.get("format", cfg.mmlu_format))
    tr = text_retention(model, tokenizer, mcset.items, mcset.shots, spec.num_shots, cfg.batch_size, cache,
                        desc=desc or spec.name, fmt=fmt)
    correct = sum(p["correct"] for p in tr.predictions)
    macro, subjects = macro_accuracy([it.subject for it in mcset.items], [bool(p["correct"]) for p in tr.predictions])
    lo, hi = wilson(correct, tr.n)
    return BenchResult(spec.name, spec.kind, "accuracy", tr.n, tr.accuracy, lo, hi,
                       {"macro_accuracy": macro, "subjects": subjects, "shots": spec.num_shots,
                        "format": fmt, "notes": list(mcset.notes)}, tr.predictions)


def run_exact(lm, bench: LoadedBenchmark, cfg: EvalConfig, cache=None, desc: str = "") -> BenchResult:
    from ichigo.eval.benchmarks.exact import final_answer, is_correct
    from ichigo.eval.generation import reply_all

    spec, items = bench.spec, bench.data

    def prompt(it) -> list[int]:
        return tokenize_chat([Message("user", it.question)], lm.tokenizer, add_generation_prompt=True).ids

    def finish(it, reply: str) -> dict:
        return {"prediction": reply, "final": final_answer(reply), "target": it.target,
                "correct": is_correct(reply, it.target)}

    recs = reply_all(lm, items, prompt, budget(spec, cfg), finish, cache, desc or spec.name, cfg.batch_size)
    k = sum(r["correct"] for r in recs)
    lo, hi = wilson(k, len(recs))
    return BenchResult(spec.name, spec.kind, "accuracy", len(recs), k / len(recs), lo, hi,
                       {"max_new_tokens": budget(spec, cfg)}, recs)


def run_text_benchmark(lm, bench: LoadedBenchmark, cfg: EvalConfig, cache=None, desc: str = "") -> BenchResult:
    if bench.spec.kind in ("mmlu", "mc"):
        return run_mc(lm.model, lm.tokenizer, bench, cfg, cache, desc)
    if bench.spec.kind == "exact":
        return run_exact(lm, bench, cfg, cache, desc)
    raise ValueError(f"{bench.spec.name}: {bench.spec.kind} is not a text benchmark")


def _wave(audio: bytes, where: str):
    from ichigo.audio import AudioError, read_audio, to_16k
    try:
        wave, sr = read_audio(audio)
    except (AudioError, ValueError) as e:
        raise InputError(f"{where}: audio cannot be decoded ({e})") from None
    return to_16k(wave, sr)


def spoken_items(bench: LoadedBenchmark, speech_tok, synthesize: Callable[[list[str], int], list] | None = None,
                 cap: int | None = None) -> list[EvalItem]:
    """EvalItems (sound codes) for a speech_qa / asr_test benchmark. Items that carry only text
    are spoken by `synthesize(texts, offset)` (the profile's held-out voices, round-robin)."""
    spec = bench.spec
    items = list(bench.data)[:cap] if cap else list(bench.data)
    waves: dict[str, object] = {}
    text_only = [it for it in items if getattr(it, "audio", None) is None and getattr(it, "codes", None) is None]
    if text_only:
        if synthesize is None:
            raise InputError(f"benchmark {spec.name!r}: {len(text_only)} items have only text and no TTS "
                             "is configured to speak them")
        for it, w in zip(text_only, synthesize([it.text for it in text_only], 0)):
            waves[it.id] = w
    for it in items:
        if it.id not in waves and getattr(it, "codes", None) is None:
            waves[it.id] = _wave(it.audio, f"benchmark {spec.name!r} item {it.id}")
    encoded = iter(speech_tok.encode_batch([waves[it.id] for it in items if it.id in waves]) if waves else [])
    out = []
    for it in items:
        c = next(encoded) if it.id in waves else it.codes
        if not c:
            raise InputError(f"benchmark {spec.name!r} item {it.id}: the audio gave no sound codes (too short?)")
        if spec.kind == "speech_qa":
            ev = EvalItem(it.id, "qa", it.question, it.reference, "", list(c))
            ev.instruction = it.instruction  # sent as text with the audio (AudioBench's instruction)
        else:
            ev = EvalItem(it.id, "asr", it.text, "", "", list(c))
        out.append(ev)
    return out


def speech_qa_result(spec: BenchmarkSpec, sqa) -> BenchResult:
    scores = [float(r["score"]) for r in sqa.predictions]
    lo, hi = bootstrap_mean(scores)
    unparseable = sum(1 for r in sqa.predictions if r.get("parsed") is False)
    return BenchResult(spec.name, spec.kind, "judge 0-5", sqa.n, sqa.score, lo, hi,
                       {"judge": sqa.judge, "exact": sqa.exact, "unparseable_verdicts": unparseable},
                       sqa.predictions)


def asr_result(spec: BenchmarkSpec, asr) -> BenchResult:
    from ichigo.transcripts import normalize_transcript
    words = sum(len(normalize_transcript(r["reference"]).split()) for r in asr.predictions)
    errors = round(asr.wer * words)
    lo, hi = wilson(min(errors, words), words) if words else (float("nan"), float("nan"))
    return BenchResult(spec.name, spec.kind, "WER", asr.n, asr.wer, lo, hi,
                       {"cer": asr.cer, "words": words, "ci": "Wilson over words (approximate)"},
                       asr.predictions)
