"""The gate fails closed (issue 17: it passed when the champion could not be read) and the gate,
register and reject steps are never cached by KFP (a cached pass could outlive its champion)."""

from __future__ import annotations

import yaml

from ichigo.config import EvalConfig, RegistryConfig
from ichigo.registry.gating import gate_with_champion
from pipelines.compile import compiled_path

GOOD = {"wer": 0.2, "speech_qa": 4.0, "inaudible_refusal": 0.95, "false_refusal": 0.05,
        "first_token_p95_ms": 100.0, "text_retention_acc": 0.5}


def test_unreadable_champion_fails_the_gate():
    def down(_):
        raise ConnectionError("registry unreachable")

    d, champion = gate_with_champion(GOOD, EvalConfig(), None, RegistryConfig(), read_champion=down)
    assert not d.passed and champion is None
    assert "fails closed" in d.reasons[0] and "ConnectionError" in d.reasons[0]


def test_no_champion_yet_judges_on_thresholds():
    ok, _ = gate_with_champion(GOOD, EvalConfig(), None, RegistryConfig(), read_champion=lambda _: None)
    bad, _ = gate_with_champion({**GOOD, "wer": 5.0}, EvalConfig(), None, RegistryConfig(),
                                read_champion=lambda _: None)
    assert not bad.passed
    assert ok.passed == gate_with_champion(GOOD, EvalConfig(), None, RegistryConfig(),
                                           read_champion=lambda _: None)[0].passed


def test_gate_register_reject_are_never_cached():
    for name in ("local", "h100"):
        docs = list(yaml.safe_load_all(compiled_path(name).read_text()))
        tasks = {}

        def walk(dag):
            for k, t in (dag.get("tasks") or {}).items():
                tasks[k] = t

        spec = docs[0]
        walk(spec["root"]["dag"])
        for comp in spec.get("components", {}).values():
            if "dag" in comp:
                walk(comp["dag"])
        for key in ("gate", "register", "reject"):
            assert tasks[key]["cachingOptions"].get("enableCache", False) is False, (name, key)
        assert tasks["evaluate"]["cachingOptions"]["enableCache"] is True
