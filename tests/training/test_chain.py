"""Stage chaining through the launcher: stage N's output HF dir is stage N+1's model_dir."""

from __future__ import annotations

import math
import time

import pytest
import yaml

from ichigo.model.checkpoint import load_pretrained
from ichigo.training.launch import run_stage
from ichigo.training.metrics import read_metrics
from tests.training.helpers import tiny_profile


@pytest.mark.slow
def test_three_stage_chain(tiny_llm_dir, stage_data, tmp_path):
    # activation checkpointing on: its wrapper must not leak into the saved HF weight names
    profile = tiny_profile(procs=2, steps=5, pdb=4, ac=True)
    # an unreachable MLflow must cost a warning, not the run
    env = {"MLFLOW_TRACKING_URI": "http://127.0.0.1:9", "MLFLOW_RUN_ID": "0" * 32}
    model_dir, results, progress = tiny_llm_dir, [], []
    for stage in ("stage1", "stage2", "stage3"):
        out = tmp_path / stage
        res = run_stage(profile, stage, model_dir, stage_data[stage], out, env=env,
                        progress=lambda s, n, row: progress.append((s, n)))
        cfg_text = (out / "config.yaml").read_text()
        assert "torchrun --standalone --nproc_per_node 2 -m ichigo.training.recipe --config" in cfg_text
        cfg = yaml.safe_load(cfg_text)
        assert cfg["activation_checkpointing"] is True
        assert cfg["model_dir"] == str(model_dir) and cfg["data"]["train_on_input"] == (stage != "stage3")
        assert res.stage == stage and res.steps == 5 and len(res.losses) == 5
        assert all(math.isfinite(x) for x in res.losses) and res.tokens_per_s > 0
        assert res.output_dir == str(out / "model")
        assert len(read_metrics(out)) == 5
        results.append(res)
        model_dir = res.output_dir
    assert results[0].losses[-1] < results[0].losses[0]  # stage 1 learns something in 5 steps
    assert progress[-1] == (5, 5)
    assert "MLflow logging disabled" in (tmp_path / "stage1" / "train.log").read_text()
    final = load_pretrained(results[-1].output_dir)
    assert final.meta["stage"] == "stage3" and final.meta["parent_model"] == str(tmp_path / "stage2" / "model")
    assert (tmp_path / "stage3" / "model" / "tokenizer.model").is_file()  # tiktoken form ships too
    # idempotent: a finished stage returns its result without training again
    t0 = time.time()
    again = run_stage(profile, "stage3", results[1].output_dir, stage_data["stage3"], tmp_path / "stage3")
    assert time.time() - t0 < 5 and again.losses == results[-1].losses
