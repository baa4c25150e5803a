import math

import pytest

from ichigo.config import EvalConfig, load_profile
from ichigo.eval.gate import ABSOLUTE_CHECKS, CHAMPION_METRICS, decide

T = EvalConfig()  # max drop 0.25, QA >= 1.0, WER <= 0.8, refusal >= 0.8, false refusal <= 0.3, p95 <= 2000
GOOD = {"text_retention_acc": 0.6, "text_retention_base_acc": 0.62, "text_retention_drop": 0.032,
        "speech_qa_score": 3.1, "wer": 0.2, "inaudible_refusal_random": 0.99,
        "inaudible_refusal_noise": 0.95, "false_refusal": 0.05, "first_token_p95_ms": 150.0}


def test_healthy_metrics_pass_and_every_check_is_listed_with_its_reason():
    d = decide(GOOD, T)
    assert d.passed and d.failed == []
    assert [c.name for c in d.checks] == [c[0] for c in ABSOLUTE_CHECKS]
    assert all(c.reason.startswith("PASS") for c in d.checks)
    assert "PASS wer: 0.2 <= 0.8" in d.reasons
    assert "NOTE no champion yet: regression checks skipped" in d.reasons


@pytest.mark.parametrize("key,bad,reason", [
    ("text_retention_drop", 0.4, "FAIL text_retention_drop: 0.4 > 0.25"),
    ("speech_qa_score", 0.5, "FAIL speech_qa_score: 0.5 < 1"),
    ("wer", 1.3, "FAIL wer: 1.3 > 0.8"),
    ("inaudible_refusal_random", 0.2, "FAIL inaudible_refusal_random: 0.2 < 0.8"),
    ("inaudible_refusal_noise", 0.5, "FAIL inaudible_refusal_noise: 0.5 < 0.8"),
    ("false_refusal", 0.45, "FAIL false_refusal: 0.45 > 0.3"),
    ("first_token_p95_ms", 2500.0, "FAIL first_token_p95_ms: 2500 > 2000"),
])
def test_each_check_fails_alone_with_its_reason(key, bad, reason):
    d = decide({**GOOD, key: bad}, T)
    assert not d.passed and d.failed == [key]
    assert d.reasons[0] == reason  # failures come first


def test_threshold_values_themselves_pass():
    at = {**GOOD, "text_retention_drop": 0.25, "speech_qa_score": 1.0, "wer": 0.8,
          "inaudible_refusal_random": 0.8, "inaudible_refusal_noise": 0.8, "false_refusal": 0.3,
          "first_token_p95_ms": 2000.0}
    assert decide(at, T).passed


@pytest.mark.parametrize("value", [None, math.nan, "n/a"])
def test_missing_or_nan_metrics_fail(value):
    m = {**GOOD, "wer": value}
    if value is None:
        del m["wer"]
    d = decide(m, T)
    assert not d.passed and d.failed == ["wer"] and "FAIL wer: no value" in d.reasons[0]


def test_retention_drop_comes_from_the_base_metrics_when_not_in_the_candidate():
    m = {k: v for k, v in GOOD.items() if not k.startswith("text_retention_") or k == "text_retention_acc"}
    no_base = decide(m, T)
    assert no_base.failed == ["text_retention_drop"] and "base model's accuracy" in no_base.reasons[0]
    ok = decide(m, T, base_metrics={"text_retention_acc": 0.7})  # drop 0.143
    assert ok.passed and ok.checks[0].value == pytest.approx(0.1 / 0.7)
    bad = decide(m, T, base_metrics={"text_retention_acc": 0.9})  # drop 0.333
    assert bad.failed == ["text_retention_drop"]


def test_champion_regression_beyond_the_limit_fails():
    champion = dict(GOOD)
    within = {**GOOD, "wer": 0.28, "speech_qa_score": 2.7}  # +0.08 WER, -0.4/5 = 0.08 QA
    d = decide(within, T, champion_metrics=champion)
    assert d.passed and {c.name for c in d.checks} >= {f"vs_champion:{k}" for k in CHAMPION_METRICS}
    worse = {**GOOD, "wer": 0.35, "speech_qa_score": 2.5, "inaudible_refusal_noise": 0.84}
    d = decide(worse, T, champion_metrics=champion)
    assert not d.passed
    assert d.failed == ["vs_champion:speech_qa_score", "vs_champion:wer", "vs_champion:inaudible_refusal_noise"]
    assert any(r.startswith("FAIL vs_champion:wer: 0.15 > 0.1 (candidate 0.35, champion 0.2)") for r in d.reasons)


def test_better_than_champion_passes_and_champion_gaps_are_noted():
    better = {**GOOD, "wer": 0.1, "speech_qa_score": 4.0}
    d = decide(better, T, champion_metrics={"wer": 0.2, "speech_qa_score": 3.0})
    assert d.passed
    assert "NOTE vs_champion:false_refusal: the champion has no value; not compared" in d.reasons


def test_thresholds_come_from_the_profile_and_may_be_a_dict():
    h100 = load_profile("h100").eval
    assert not decide(GOOD, h100).passed  # the cluster profile is stricter (WER <= 0.15, ...)
    assert decide(GOOD, h100.model_dump()).failed == decide(GOOD, h100).failed
    assert decide(GOOD, T.model_dump()).passed


def test_decision_serialises():
    d = decide({**GOOD, "wer": 2.0}, T, champion_metrics=GOOD).to_dict()
    assert d["passed"] is False and any(c["name"] == "wer" and not c["passed"] for c in d["checks"])
