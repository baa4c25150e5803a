"""Same seed, same losses, bitwise, even when another process loads the CPU (issue 17: two
`ichigo run`s diverged in stage 2 from step 27 when the second ran under load).

Training on CPU is deterministic for a fixed (world size, threads per rank, torch build, data):
FSDP2's gloo reduce-scatter/all-reduce over 2 ranks adds two operands (order-free), the data
order is a pure function of (seed, epoch), and one intra-op thread per rank (torchrun's
OMP_NUM_THREADS=1, recorded in result.json) leaves no room for scheduling-dependent reduction
order. CPU load changes only timing. This test pins that: a run with a CPU burner beside it
matches an unloaded run loss for loss, bit for bit."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from ichigo.training.backends import torchrun
from ichigo.training.backends.job import StageJob
from ichigo.training.metrics import read_metrics
from tests.training.helpers import tiny_profile

STEPS = 8
BURN = "import multiprocessing as m\ndef f():\n    while True: pass\nif __name__ == '__main__':\n    [m.Process(target=f).start() for _ in range(3)]\n    f()\n"


@pytest.mark.slow
def test_same_seed_same_losses_under_cpu_load(tiny_llm_dir, stage_data, tmp_path):
    profile = tiny_profile(procs=2, steps=STEPS, pdb=2, accum=2)

    def run(name):
        return torchrun.run(StageJob.from_profile(profile, "stage2", tiny_llm_dir, stage_data["stage2"],
                                                  tmp_path / name))

    quiet = run("quiet")
    burner = subprocess.Popen([sys.executable, "-c", BURN], start_new_session=True)
    try:
        loaded = run("loaded")
    finally:
        import os
        import signal

        os.killpg(burner.pid, signal.SIGKILL)
        burner.wait()
    assert len(quiet.losses) == len(loaded.losses) == STEPS
    for step, (a, b) in enumerate(zip(quiet.losses, loaded.losses), 1):
        assert a == b, f"step {step}: {a!r} vs {b!r} (bitwise)"
    gq = [r["grad_norm"] for r in read_metrics(tmp_path / "quiet")]
    gl = [r["grad_norm"] for r in read_metrics(tmp_path / "loaded")]
    assert gq == gl
    det = json.loads((tmp_path / "loaded" / "result.json").read_text()).get("determinism")
    assert det is not None and det["intra_op_threads"] == 1 and det["world_size"] == 2
