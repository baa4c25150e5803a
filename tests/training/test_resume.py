"""Exact resume: a 2-rank CPU run SIGKILLed mid-way continues from its last checkpoint and
produces the same per-step losses as an uninterrupted run."""

from __future__ import annotations

import json

import pytest

from ichigo.model.checkpoint import load_pretrained
from ichigo.training.checkpointing import checkpoint_dirs, latest_checkpoint
from ichigo.training.backends import torchrun
from ichigo.training.backends.job import StageJob
from ichigo.training.metrics import read_metrics
from ichigo.training.recipe import KILL_AT_STEP_ENV
from ichigo.training.results import TrainingFailed
from tests.training.helpers import tiny_profile

STEPS, EVERY, KILL_AFTER = 12, 4, 6


@pytest.mark.slow
def test_sigkill_then_resume_gives_identical_losses(tiny_llm_dir, stage_data, tmp_path):
    profile = tiny_profile(procs=2, steps=STEPS, every=EVERY, pdb=2, accum=2)

    def cfg(name):
        return StageJob.from_profile(profile, "stage2", tiny_llm_dir, stage_data["stage2"], tmp_path / name)

    ref = torchrun.run(cfg("ref"))
    assert len(ref.losses) == STEPS

    # the same run, with rank 0 SIGKILLed right after step KILL_AFTER (torchrun then tears down
    # the other rank): no chance to save anything
    c = cfg("killed")
    with pytest.raises(TrainingFailed, match="exited with code"):
        torchrun.run(c, env={KILL_AT_STEP_ENV: str(KILL_AFTER)})
    killed_at = read_metrics(tmp_path / "killed")[-1]["step"]
    assert killed_at == KILL_AFTER
    assert "Signal 9 (SIGKILL)" in (tmp_path / "killed" / "train.log").read_text()
    assert not (tmp_path / "killed" / "result.json").exists()
    ck = latest_checkpoint(tmp_path / "killed")
    assert ck is not None and ck.name == f"step_{(killed_at // EVERY) * EVERY:06d}"
    assert load_pretrained(ck).args.vocab_size == load_pretrained(tiny_llm_dir).args.vocab_size

    resumed = torchrun.run(c)  # the launcher sees a partial run and resumes it
    log = (tmp_path / "killed" / "train.log").read_text()
    assert f"resumed from {ck}" in log
    assert len(resumed.losses) == STEPS
    for step, (a, b) in enumerate(zip(ref.losses, resumed.losses), 1):
        assert a == pytest.approx(b, rel=1e-6, abs=1e-7), f"step {step}: {a} vs {b}"
    assert [p.name for _, p in checkpoint_dirs(tmp_path / "killed")] == ["step_000004", "step_000008"]
    rows = read_metrics(tmp_path / "killed")
    assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
    assert all(r["grad_norm"] > 0 and r["tokens_per_s"] > 0 and r["mem_rss_gib"] > 0 for r in rows)
    assert json.loads((tmp_path / "killed" / "result.json").read_text())["final_loss"] == resumed.final_loss
