"""Per-stage configs: one recipe config, the profile's stage settings merged over its defaults,
validation in one place, and the written YAML."""

from __future__ import annotations

import pytest
import yaml

from ichigo.config import load_profile
from ichigo.config.recipe import STAGES, build_recipe_config, merge_stage
from ichigo.errors import ConfigError
from ichigo.training.config import dump_config, load_config, parse_config
from ichigo.training.launch import stage_config

PATHS = {"model_dir": "m", "data_dir": "d", "output_dir": "o"}


def _base(**over) -> dict:
    return {"stage": "stage2", **PATHS, "steps": 10, "per_device_batch": 4, "global_batch": 256,
            "data": {"max_seq_len": 64}, "optimizer": {"lr": 1e-4}, "lr_scheduler": {"warmup_steps": 2}, **over}


@pytest.mark.parametrize("name", ["local", "smoke", "h100"])
def test_profile_stage_configs(name, tmp_path):
    profile = load_profile(name)
    assert tuple(profile.training.stages) == STAGES
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


def test_unset_stage_keys_keep_the_recipe_defaults():
    cfg = build_recipe_config("stage1", {"device": "cpu"}, {"steps": 5, "per_device_batch": 2, "lr": 1e-3,
                                                            "warmup_steps": 1, "max_seq_len": 32}, PATHS)
    assert (cfg.optimizer.weight_decay, cfg.grad_clip, cfg.data.pack, cfg.checkpoint.every) == (0.005, 1.0, True, 0)
    raw = merge_stage("stage1", {"dtype": "fp32", "nodes": 3}, {"checkpoint_every": 7, "seed": None}, PATHS)
    assert raw["checkpoint"] == {"every": 7} and "seed" not in raw and "nodes" not in raw


def test_the_profile_partial_lists_only_what_it_sets():
    st = load_profile("local").training.stages["stage1"]
    assert "pack" not in st.model_dump() and st.model_dump()["steps"] == 100


@pytest.mark.parametrize("stage_over,match", [
    ({"warmup_steps": 500}, "training.stages.stage1: lr_scheduler.warmup_steps .500. must be < steps"),
    ({"lr": 0}, "training.stages.stage1.lr: Input should be greater than 0"),
    ({"global_batch": 300}, "training.stages.stage1: per_device_batch .8. x grad_accum .1. x world size .2. = 16"),
])
def test_bad_stage_settings_fail_on_profile_load_naming_the_field(stage_over, match):
    with pytest.raises(ConfigError, match=match):
        load_profile("local", {"training": {"stages": {"stage1": stage_over}}})


def test_a_missing_required_stage_key_is_named():
    with pytest.raises(ValueError, match="training.stages.stage3.steps: Field required"):
        build_recipe_config("stage3", {}, {"per_device_batch": 2, "lr": 1e-3, "warmup_steps": 1,
                                           "max_seq_len": 32}, PATHS)


def test_launch_settings_are_named_as_training_keys():
    with pytest.raises(ConfigError, match="training.loss_chunks"):
        load_profile("local", {"training": {"loss_chunks": -1}})


def test_bad_configs_fail_early_with_the_field(tmp_path, monkeypatch):
    base = _base()
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
