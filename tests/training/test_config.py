"""Per-stage configs: templates, profile overrides, validation, and the written YAML."""

from __future__ import annotations

import pytest
import yaml

from ichigo.config import load_profile
from ichigo.errors import ConfigError
from ichigo.training.config import dump_config, load_config, parse_config, template
from ichigo.training.launch import stage_config


def test_templates_are_valid_and_carry_the_paper_defaults():
    for stage, (steps, lr, warm, seq) in {"stage1": (8064, 2e-4, 50, 512), "stage2": (7400, 7e-5, 73, 4096),
                                          "stage3": (644, 1.5e-5, 8, 4096)}.items():
        cfg = parse_config({**template(stage), "model_dir": "m", "data_dir": "d", "output_dir": "o"})
        assert (cfg.steps, cfg.optimizer.lr, cfg.lr_scheduler.warmup_steps, cfg.data.max_seq_len) == (steps, lr, warm, seq)


@pytest.mark.parametrize("name", ["local", "h100"])
def test_profile_stage_configs(name, tmp_path):
    profile = load_profile(name)
    for stage, st in profile.training.stages.items():
        cfg = stage_config(profile, stage, "m", "d", "o")
        assert cfg.steps == st.steps and cfg.optimizer.lr == st.lr and cfg.data.max_seq_len == st.max_seq_len
        assert cfg.device == profile.training.device and cfg.dtype == profile.training.dtype
        cfg.check_world(profile.training.world_size)
        path = dump_config(cfg, tmp_path / f"{stage}.yaml", nproc=profile.training.procs_per_node)
        text = path.read_text()
        assert text.startswith(f"# Ichigo {stage} training config")
        assert f"--nproc_per_node {profile.training.procs_per_node} -m ichigo.training.recipe --config {path}" in text
        assert load_config(str(path)) == cfg
    assert stage_config(profile, "stage2", "m", "d", "o").loss_chunks == (8 if name == "h100" else 0)


def test_bad_configs_fail_early_with_the_field(tmp_path, monkeypatch):
    base = {**template("stage2"), "model_dir": "m", "data_dir": "d", "output_dir": "o"}
    with pytest.raises(ConfigError, match="warmup_steps"):
        parse_config({**base, "lr_scheduler": {"warmup_steps": 99999}})
    with pytest.raises(ConfigError, match="optimizer.lrr"):
        parse_config({**base, "optimizer": {"lrr": 1.0}})
    with pytest.raises(ConfigError, match="dtype"):
        parse_config({**base, "dtype": "fp16"})
    assert parse_config({**base, "device": "cpu", "dtype": "bf16"}).dtype == "bf16"  # see precision
    cfg = parse_config(base)
    with pytest.raises(ConfigError, match="global_batch is 256"):
        cfg.check_world(2)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match="not set"):
        load_config("env:ICHIGO_NO_SUCH_VAR")
    monkeypatch.setenv("ICHIGO_CFG", yaml.safe_dump(cfg.model_dump(mode="json")))
    assert load_config("env:ICHIGO_CFG") == cfg
    with pytest.raises(ConfigError, match="unknown stage"):
        stage_config(load_profile("local"), "stage4", "m", "d", "o")
