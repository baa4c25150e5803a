"""The files that steps hand to each other, by name, with typed readers and writers.

A step writes through `write_*` and the next one reads through `read_*`, so a file name or a key
is spelled once, and a missing or malformed file fails naming the file and what is wrong in it
instead of a KeyError three steps later.

    evaluation/  EVALUATION_FILE  {"candidate": {metric: value}, "untrained": {...} | null,
                                   "benchmarks": [row per benchmark], "notes": [...]}
    text eval/   TEXT_EVAL_FILE   one stage's text benchmarks: {"stage": s, "benchmarks": {name: row}}
    decision/    DECISION_FILE    the gate's verdict: passed, reasons, checks, stage losses, champion,
                                  benchmark rows, the retention curve, the judge's name
    stage out/   STAGE_RESULT_FILE  one training stage's result (written by the recipe, rank 0)
    stage out/   TRAIN_METRICS_FILE one JSON line per training step

Inside a step: one evaluate_model run's directory (ichigo.eval.run) keeps its flat metrics in
MODEL_METRICS_FILE, beside its benchmarks.json and predictions.jsonl.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ichigo.errors import InputError
from ichigo.files import write_atomic_bytes

EVALUATION_FILE = "metrics.json"
DECISION_FILE = "decision.json"
TEXT_EVAL_FILE = "text.json"
STAGE_RESULT_FILE = "result.json"
TRAIN_METRICS_FILE = "metrics.jsonl"
# EVALUATION_FILE's name with another schema ({metric: value}), one directory down
# (evaluation/candidate/, evaluation/untrained/)
MODEL_METRICS_FILE = "metrics.json"


def _read_json(path: Path, what: str) -> dict:
    if not path.is_file():
        raise InputError(f"{what} {path} does not exist: the step that writes it did not finish")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise InputError(f"{what} {path} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise InputError(f"{what} {path} must hold a JSON object")
    return data


def _write_json(path: Path, obj: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic_bytes(path, (json.dumps(obj, indent=2, default=str) + "\n").encode())
    return path


def _require(data: dict, keys: tuple[str, ...], path: Path, what: str) -> None:
    missing = [k for k in keys if k not in data]
    if missing:
        raise InputError(f"{what} {path} lacks {', '.join(missing)}")


# -- evaluation ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Evaluation:
    """Flat metrics of the candidate and of the untrained model (base + sound tokens)."""

    candidate: dict[str, Any]
    untrained: dict[str, Any] | None = None
    # the candidate's benchmark rows (ichigo.eval.bench_run.BenchResult.summary()) and notes
    # (held-out overlaps reported, a judge fallback)
    benchmarks: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def numeric(self) -> dict[str, float]:
        """The candidate's finite numeric metrics (what goes to KFP and MLflow)."""
        return {k: float(v) for k, v in self.candidate.items()
                if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v}


def write_evaluation(directory: str | Path, ev: Evaluation) -> Path:
    return _write_json(Path(directory) / EVALUATION_FILE, asdict(ev))


def read_evaluation(directory: str | Path) -> Evaluation:
    path = Path(directory) / EVALUATION_FILE
    data = _read_json(path, "evaluation")
    _require(data, ("candidate",), path, "evaluation")
    if not isinstance(data["candidate"], dict):
        raise InputError(f"evaluation {path}: candidate must be an object of metrics")
    return Evaluation(candidate=data["candidate"], untrained=data.get("untrained"),
                      benchmarks=list(data.get("benchmarks") or []), notes=list(data.get("notes") or []))


def write_text_eval(directory: str | Path, stage: str, benchmarks: dict[str, dict]) -> Path:
    return _write_json(Path(directory) / TEXT_EVAL_FILE, {"stage": stage, "benchmarks": benchmarks})


def read_text_eval(directory: str | Path) -> dict[str, dict]:
    """{benchmark: row} of one stage's text evaluation."""
    path = Path(directory) / TEXT_EVAL_FILE
    data = _read_json(path, "text evaluation")
    _require(data, ("benchmarks",), path, "text evaluation")
    return dict(data["benchmarks"])


# -- gate decision ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Decision:
    passed: bool
    reasons: list[str]
    checks: list[dict[str, Any]] = field(default_factory=list)
    stage_losses: dict[str, list[float]] = field(default_factory=dict)
    champion: dict[str, Any] | None = None
    # per benchmark: name, kind, metric, n, score, ci_low, ci_high (what the run summary lists)
    benchmarks: list[dict[str, Any]] = field(default_factory=list)
    retention_curve: dict[str, dict[str, float]] = field(default_factory=dict)  # {name: {stage: score}}
    judge: str | None = None  # the speech-QA judge ("offline scorer" when no LLM judge)
    eval_notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def write_decision(directory: str | Path, d: Decision) -> Path:
    return _write_json(Path(directory) / DECISION_FILE, d.to_dict())


def read_decision(directory: str | Path) -> Decision:
    path = Path(directory) / DECISION_FILE
    data = _read_json(path, "gate decision")
    _require(data, ("passed", "reasons"), path, "gate decision")
    return Decision(passed=bool(data["passed"]), reasons=list(data["reasons"]),
                    checks=list(data.get("checks") or []), stage_losses=dict(data.get("stage_losses") or {}),
                    champion=data.get("champion"), benchmarks=list(data.get("benchmarks") or []),
                    retention_curve=dict(data.get("retention_curve") or {}), judge=data.get("judge"),
                    eval_notes=list(data.get("eval_notes") or []))


# -- training stage result ----------------------------------------------------------------------
@dataclass
class StageResult:
    stage: str
    steps: int
    losses: list[float]
    final_loss: float | None
    tokens_per_s: float
    train_seconds: float  # the recipe's training loop time (excludes launch and staging)
    output_dir: str  # the HF model dir: model_dir of the next stage
    world_size: int | None = None
    wall_seconds: float | None = None  # launch to result, as the launcher saw it
    determinism: dict | None = None  # what bitwise-equal repeats depend on (ichigo.training.determinism)

    def to_dict(self) -> dict:
        return asdict(self)


_RESULT_KEYS = ("stage", "steps", "losses", "final_loss", "tokens_per_s", "train_seconds", "output_dir")


def stage_result_from_dict(data: dict, source: str = "<stage result>") -> StageResult:
    missing = [k for k in _RESULT_KEYS if k not in data]
    if missing:
        raise InputError(f"stage result {source} lacks {', '.join(missing)}")
    return StageResult(stage=data["stage"], steps=int(data["steps"]), losses=[float(x) for x in data["losses"]],
                       final_loss=None if data["final_loss"] is None else float(data["final_loss"]),
                       tokens_per_s=float(data["tokens_per_s"]), train_seconds=float(data["train_seconds"]),
                       output_dir=str(data["output_dir"]), world_size=data.get("world_size"),
                       wall_seconds=data.get("wall_seconds"), determinism=data.get("determinism"))


def write_stage_result(directory: str | Path, result: StageResult) -> Path:
    return _write_json(Path(directory) / STAGE_RESULT_FILE, result.to_dict())


def read_stage_result(directory: str | Path) -> StageResult:
    path = Path(directory) / STAGE_RESULT_FILE
    return stage_result_from_dict(_read_json(path, "stage result"), str(path))
