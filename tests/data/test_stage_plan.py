import dataclasses
import json

import pytest

from ichigo.config import load_profile
from ichigo.data.stage_plan import (apply_plan, count_packs, estimated_plan, plan_stage, stage_budget,
                                    synthesis_gpu_hours)
from ichigo.errors import ConfigError
from pipelines.cli import main


def test_samples_budget_becomes_packed_steps_and_one_pass():
    cfg = stage_budget(load_profile("h100"), "stage2")  # paper: 7400 steps x 256 samples
    p = plan_stage("stage2", cfg, samples=7400 * 256, tokens=0, packs=7400 * 256 // 16, lengths="measured")
    assert p.samples_per_step == 256 * 16 and p.steps == 463 and p.epochs == pytest.approx(1.0, abs=0.01)
    steps_cfg = dataclasses.replace(cfg, budget="steps")  # copying the steps = 16 passes
    assert plan_stage("stage2", steps_cfg, 7400 * 256, 0, 7400 * 256 // 16, "measured").epochs == pytest.approx(16, abs=0.01)


def test_count_packs_next_fit():
    assert count_packs([100, 100, 100, 300, 50], 256) == 4  # [100,100] [100] [256 cut] [50]
    assert count_packs([], 256) == 0


def test_h100_profile_reproduces_one_pass_and_gpu_hours():
    plans = estimated_plan(load_profile("h100"))
    assert plans["stage2"].epochs == pytest.approx(1.0, abs=0.02)
    assert plans["stage3"].epochs == pytest.approx(1.0, abs=0.1)
    assert synthesis_gpu_hours(load_profile("h100"))["total"] > 10


def test_plan_data_cli_prints_table(capsys):
    assert main(["plan-data", "--profile", "h100"]) == 0
    out = capsys.readouterr().out
    assert "samples/step" in out and "GPU-hours" in out and "source mls_de: asr mls" in out


def test_trainer_takes_planned_steps_for_samples_budget(tmp_path):
    profile = load_profile("h100")
    with pytest.raises(ConfigError, match="stage2 has budget 'samples' but .* holds no stage plan"):
        apply_plan(profile, "stage2", tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"plan": {"steps": 500}}))
    st = apply_plan(profile, "stage2", tmp_path).training.stages["stage2"]
    assert st.steps == 500 and st.warmup_steps == round(73 * 500 / 7400) and st.budget == "steps"
    local = load_profile("local")
    assert apply_plan(local, "stage2", tmp_path) is local


def test_plan_data_cli_reads_a_built_stage_manifest(tmp_path, capsys):
    plan = {"stage": "stage2", "samples": 300, "tokens": 18000, "packs": 80, "budget": "steps", "steps": 300,
            "samples_per_step": 60.0, "epochs": 60.0, "lengths": "measured"}
    (tmp_path / "manifest.json").write_text(json.dumps({"stages": {"stage2": {"plan": plan}}}))
    assert main(["plan-data", "--profile", "local", "--stages", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "stage2" in out and "18,000" in out and "measured" in out and "embedded world" in out


@pytest.mark.parametrize("name", ["local", "smoke", "small", "h100"])
def test_every_profile_has_a_plan(name, capsys):
    """The plan's token estimates cover every base model kind (the small profile's GGUF base once
    failed the stage build with KeyError 'gguf')."""
    from typing import get_args

    from ichigo.config.sections import BaseModelConfig
    from ichigo.data.stage_plan import CHARS_PER_TOKEN

    assert set(get_args(BaseModelConfig.model_fields["kind"].annotation)) <= set(CHARS_PER_TOKEN)
    assert main(["plan-data", "--profile", name]) == 0
    assert "stage3" in capsys.readouterr().out
