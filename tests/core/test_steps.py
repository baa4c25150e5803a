"""Per-step settings (ichigo.config.steps): each view carries what its step reads and nothing else;
the rebuilt profile has the carried settings as loaded, and refuses to hand out any other."""

from __future__ import annotations

import json
import pickle

import pytest

from ichigo.config import STAGES, load_profile, profile_names
from ichigo.config.sections import EVAL_THRESHOLDS
from ichigo.config.steps import VIEWS, step_profile, step_view
from ichigo.data.stage_plan import stage_budget
from ichigo.errors import ConfigError


def _changed(a, b) -> set[str]:
    return {v for v in VIEWS if step_view(a, v) != step_view(b, v)}


@pytest.mark.parametrize("name", profile_names())
def test_every_view_round_trips_with_the_loaded_values(name):
    p = load_profile(name)
    for view in VIEWS:
        q = step_profile(step_view(p, view), view)
        assert step_view(q, view) == step_view(p, view)  # a rebuilt view dumps to the same settings
        pickle.loads(pickle.dumps(q))  # the synthesis step hands its profile to worker processes
    ev = step_profile(step_view(p, "evaluate"), "evaluate")
    assert (ev.eval.benchmarks, ev.eval.judge, ev.tts) == (p.eval.benchmarks, p.eval.judge, p.tts)
    assert ev.speech_tokenizer == p.speech_tokenizer and ev.training.device == p.training.device
    prep = step_profile(step_view(p, "prepare_model"), "prepare_model")
    assert (prep.base_model, prep.training.dtype) == (p.base_model, p.training.dtype)
    reg = step_profile(step_view(p, "register"), "register")
    assert (reg.name, reg.registry, dict(reg.training.stages)) == (p.name, p.registry, dict(p.training.stages))
    for stage in STAGES:
        t = step_profile(step_view(p, f"train_{stage}"), f"train_{stage}")
        assert t.training.recipe_config(stage, "m", "d", "o") == p.training.recipe_config(stage, "m", "d", "o")
        assert t.training.world_size == p.training.world_size
        # the stage plan reads the same from the stage datasets' view, the stage's own view and the profile
        plan = step_profile(step_view(p, "stage_datasets"), "stage_datasets")
        assert stage_budget(plan, stage) == stage_budget(t, stage) == stage_budget(p, stage)


def test_settings_a_view_does_not_carry_raise_naming_them():
    p = load_profile("h100")
    ev = step_profile(step_view(p, "evaluate"), "evaluate")
    with pytest.raises(ConfigError, match=r"eval\.max_wer is not among the settings of step view 'evaluate'"):
        _ = ev.eval.max_wer < 0.2
    with pytest.raises(ConfigError, match="base_model is not among"):
        _ = ev.base_model.kind
    with pytest.raises(ConfigError, match="training.stages"):
        _ = ev.training.stages["stage3"]
    t3 = step_profile(step_view(p, "train_stage3"), "train_stage3")
    with pytest.raises(ConfigError, match=r"training\.stages\.stage1 is not among"):
        _ = t3.training.stages["stage1"]
    with pytest.raises(ConfigError, match="registry.model_name"):
        f"{t3.registry.model_name}"
    plan = step_profile(step_view(p, "stage_datasets"), "stage_datasets")
    with pytest.raises(ConfigError, match=r"training\.stages\.stage3\.lr"):
        bool(plan.training.stages["stage3"].lr)
    gate = step_profile(step_view(p, "gate"), "gate")
    assert {f: getattr(gate.eval, f) for f in EVAL_THRESHOLDS} == {f: getattr(p.eval, f) for f in EVAL_THRESHOLDS}
    with pytest.raises(ConfigError, match="eval.benchmarks"):
        list(gate.eval.benchmarks)


def test_an_eval_threshold_changes_the_gates_settings_only():
    p = load_profile("h100")
    for field in EVAL_THRESHOLDS:
        value = getattr(p.eval, field)
        q = load_profile("h100", {"eval": {field: value * 0.5 if value else 0.5}})
        assert _changed(p, q) == {"gate"}, field


def test_a_stage_setting_changes_that_stages_settings_and_the_lineage_only():
    p = load_profile("h100")
    assert _changed(p, load_profile("h100", {"training": {"stages": {"stage3": {"lr": 3e-5}}}})) == {
        "train_stage3", "register"}
    assert _changed(p, load_profile("h100", {"training": {"stages": {"stage1": {"weight_decay": 0.01}}}})) == {
        "train_stage1", "register"}
    # what the stage plan reads moves the stage datasets too (they carry the plan)
    assert _changed(p, load_profile("h100", {"training": {"stages": {"stage3": {"steps": 700}}}})) == {
        "stage_datasets", "train_stage3", "register"}
    assert _changed(p, load_profile("h100", {"eval": {"max_new_tokens": 32}})) == {"evaluate", "evaluate_text"}
    assert _changed(p, load_profile("h100", {"serving": {"port": 9000}})) == set()


def test_the_thresholds_are_the_ones_the_gate_checks():
    from ichigo.eval.gate import ABSOLUTE_CHECKS

    assert {c[3] for c in ABSOLUTE_CHECKS} | {"max_regression_vs_champion"} == set(EVAL_THRESHOLDS)


def _evaluate_settings(**changes) -> str:
    doc = json.loads(step_view(load_profile("local"), "evaluate"))
    doc["settings"].update(changes)
    return json.dumps(doc)


@pytest.mark.parametrize("settings,match", [
    ("not json", "not JSON"),
    ("[]", "step_view"),
    ('{"view": "gate", "settings": {}}', "given the settings of 'gate'"),
    (_evaluate_settings(eval={"max_wer": 0.1}), r"eval carries \['max_wer'\]"),
    (_evaluate_settings(base_model={}), r"carries \['base_model'\]"),
    (_evaluate_settings(eval={"batch_size": -1}), r"eval\.batch_size: Input should be greater than or equal to 1"),
    (_evaluate_settings(eval=[]), "eval must be a mapping"),
    (_evaluate_settings(tts={"backend": "festival"}), r"tts\.backend"),
    ('{"view": "evaluate", "settings": {}}', "tts is missing"),
])
def test_bad_settings_are_clear_errors(settings, match):
    with pytest.raises(ConfigError, match=match):
        step_profile(settings, "evaluate")


def test_train_settings_hold_one_stage_and_unknown_views_are_refused():
    p = load_profile("local")
    doc = json.loads(step_view(p, "train_stage2"))
    assert set(doc["settings"]["training"]["stages"]) == {"stage2"}
    doc["settings"]["training"]["stages"]["stage1"] = doc["settings"]["training"]["stages"]["stage2"]
    with pytest.raises(ConfigError, match="must hold only"):
        step_profile(json.dumps(doc), "train_stage2")
    with pytest.raises(ConfigError, match="unknown step view"):
        step_view(p, "train_stage4")
