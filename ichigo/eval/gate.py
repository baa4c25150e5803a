"""The promotion gate: a pure function of metrics and thresholds (no I/O, no clock).

Absolute checks come from `EvalConfig`. With a champion, each quality metric must also not
regress by more than `max_regression_vs_champion`, measured on the metric's own scale:
accuracy, rates and WER in absolute points (0.1 = 10 points), the 0-5 judge score divided by 5.
Latency is not compared with the champion (it depends on the machine each was measured on;
the absolute p95 bound covers it). A missing or NaN metric fails its check: never a silent pass.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

from ichigo.config import EvalConfig

Op = Literal["<=", ">="]


@dataclass(frozen=True)
class Check:
    name: str
    value: float | None
    threshold: float
    op: Op
    passed: bool
    reason: str = ""


@dataclass
class GateDecision:
    passed: bool
    reasons: list[str] = field(default_factory=list)  # one line per check, failures first
    checks: list[Check] = field(default_factory=list)

    @property
    def failed(self) -> list[str]:
        return [c.name for c in self.checks if not c.passed]

    def to_dict(self) -> dict:
        return {"passed": self.passed, "reasons": self.reasons, "checks": [asdict(c) for c in self.checks]}


# (check name, metric key, op, EvalConfig field)
ABSOLUTE_CHECKS: tuple[tuple[str, str, Op, str], ...] = (
    ("text_retention_drop", "text_retention_drop", "<=", "max_text_retention_drop"),
    ("speech_qa_score", "speech_qa_score", ">=", "min_speech_qa_score"),
    ("wer", "wer", "<=", "max_wer"),
    ("inaudible_refusal_random", "inaudible_refusal_random", ">=", "min_inaudible_refusal"),
    ("inaudible_refusal_noise", "inaudible_refusal_noise", ">=", "min_inaudible_refusal"),
    ("false_refusal", "false_refusal", "<=", "max_false_refusal"),
    ("first_token_p95_ms", "first_token_p95_ms", "<=", "max_first_token_p95_ms"),
)
# metric -> (higher is better, scale that turns a difference into a fraction)
CHAMPION_METRICS: dict[str, tuple[bool, float]] = {
    "text_retention_acc": (True, 1.0),
    "speech_qa_score": (True, 5.0),
    "wer": (False, 1.0),
    "inaudible_refusal_random": (True, 1.0),
    "inaudible_refusal_noise": (True, 1.0),
    "false_refusal": (False, 1.0),
}


def _num(d: dict | None, key: str) -> float | None:
    if not d or key not in d or d[key] is None:
        return None
    try:
        v = float(d[key])
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _retention_drop(metrics: dict, base: dict | None) -> tuple[float | None, str]:
    drop = _num(metrics, "text_retention_drop")
    if drop is not None:
        return drop, ""
    acc = _num(metrics, "text_retention_acc")
    base_acc = _num(metrics, "text_retention_base_acc")
    if base_acc is None:
        base_acc = _num(base, "text_retention_acc")
    if acc is None or base_acc is None:
        return None, "needs text_retention_acc and the base model's accuracy"
    return (0.0 if base_acc <= 0 else (base_acc - acc) / base_acc), " (from the base accuracy)"


def _check(name: str, value: float | None, threshold: float, op: Op, why_missing: str = "") -> Check:
    if value is None:
        return Check(name, None, threshold, op, False,
                     f"FAIL {name}: no value{(' - ' + why_missing) if why_missing else ''}")
    ok = value <= threshold if op == "<=" else value >= threshold
    return Check(name, value, threshold, op, ok,
                 f"{'PASS' if ok else 'FAIL'} {name}: {value:.4g} {op if ok else _neg(op)} {threshold:.4g}")


def _neg(op: Op) -> str:
    return ">" if op == "<=" else "<"


def decide(metrics: dict, thresholds: EvalConfig | dict, base_metrics: dict | None = None,
           champion_metrics: dict | None = None) -> GateDecision:
    """Every check with its reason. `thresholds` may be the plain-dict form of an EvalConfig."""
    if isinstance(thresholds, dict):
        thresholds = EvalConfig.model_validate(thresholds)
    checks: list[Check] = []
    notes: list[str] = []
    for name, key, op, field_name in ABSOLUTE_CHECKS:
        limit = float(getattr(thresholds, field_name))
        if key == "text_retention_drop":
            value, how = _retention_drop(metrics, base_metrics)
            c = _check(name, value, limit, op, how if value is None else "")
            if value is not None and how:
                c = Check(c.name, c.value, c.threshold, c.op, c.passed, c.reason + how)
        else:
            c = _check(name, _num(metrics, key), limit, op)
        checks.append(c)

    if champion_metrics:
        limit = float(thresholds.max_regression_vs_champion)
        for key, (higher, scale) in CHAMPION_METRICS.items():
            champ = _num(champion_metrics, key)
            if champ is None:
                notes.append(f"NOTE vs_champion:{key}: the champion has no value; not compared")
                continue
            cand = _num(metrics, key)
            regression = None if cand is None else ((champ - cand) if higher else (cand - champ)) / scale
            c = _check(f"vs_champion:{key}", regression, limit, "<=")
            if cand is not None:
                c = Check(c.name, c.value, c.threshold, c.op, c.passed,
                          c.reason + f" (candidate {cand:.4g}, champion {champ:.4g})")
            checks.append(c)
    else:
        notes.append("NOTE no champion yet: regression checks skipped")

    passed = all(c.passed for c in checks)
    reasons = [c.reason for c in checks if not c.passed] + [c.reason for c in checks if c.passed] + notes
    return GateDecision(passed, reasons, checks)
