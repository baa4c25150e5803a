"""`ichigo run` is quiet: the smoke profile end to end prints under 60 lines before its summary
(one per step), each step's full output is in WORKDIR/logs, and those logs are free of the
warnings that were fixed at their cause."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO, need_binary

pytestmark = pytest.mark.slow


def test_smoke_run_prints_one_line_per_step(tmp_path):
    need_binary("espeak-ng")
    r = subprocess.run([sys.executable, "-m", "pipelines.cli", "run", "--profile", "smoke", "--workdir",
                        str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=1800)
    out = (r.stdout + r.stderr).splitlines()
    assert r.returncode == 0, "\n".join(out[-60:])
    start = next(i for i, line in enumerate(r.stdout.splitlines()) if line.startswith("====="))
    before = r.stdout.splitlines()[:start] + r.stderr.splitlines()
    assert len(before) < 60, "\n".join(before)
    for step in ("prepare_model", "synthesize_speech share 0", "synthesize_speech share 1",
                 "train_stage stage1", "train_stage stage3", "evaluate", "gate", "register"):
        assert sum(line.split("  ")[0].strip() == step or line.strip().startswith(step + " ")
                   for line in before) == 1, (step, before)
    logs = {p.name for p in (tmp_path / "logs").iterdir()}
    assert {"train_stage-stage1.log", "evaluate.log", "pipeline.log"} <= logs
    # warnings fixed at their cause stay fixed: MLflow's pickled-model / no-example / no-type-hint
    # notices (register logs the model from code, with signature and example) and the bf16
    # RMSNorm dtype mismatch (ichigo.model.architecture.Fp32RMSNorm) on every training rank
    text = "\n".join((tmp_path / "logs" / name).read_text(errors="replace") for name in logs)
    for warning in ("CloudPickle", "input example was not provided", "Add type hints to the `predict`",
                    "Mismatch dtype between input and weight"):
        assert warning not in text, warning
    assert "Registered:" in r.stdout
