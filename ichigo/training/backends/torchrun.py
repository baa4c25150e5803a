"""Run one stage here: `torchrun --standalone` over `procs_per_node` ranks, as a subprocess.

Idempotent (a finished output dir is returned as is) and resumable (a killed or preempted run
continues from its newest checkpoint: the recipe finds it). The trainer's output goes to
`out/train.log` and is echoed to stderr (`ichigo run` files that under WORKDIR/logs).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

from tqdm import tqdm

from ichigo.artifacts import STAGE_RESULT_FILE, TRAIN_METRICS_FILE, read_stage_result
from ichigo.config.recipe import RecipeConfig
from ichigo.errors import ConfigError
from ichigo.training.backends.follow import MetricsTail, StepFollower
from ichigo.training.backends.job import StageJob, recipe_env
from ichigo.training.config import dump_config, launch_command
from ichigo.training.results import Progress, StageResult, TrainingFailed

CONFIG_FILE = "config.yaml"
LOG_FILE = "train.log"


def finished_result(out: Path) -> StageResult | None:
    if (out / STAGE_RESULT_FILE).is_file() and (out / "model" / "config.json").is_file():
        return read_stage_result(out)
    return None


def _check_same_config(out: Path, cfg: RecipeConfig) -> None:
    """Resuming a partial run under a different config would silently mix two runs."""
    p = out / CONFIG_FILE
    if not p.is_file() or not (out / "checkpoints").is_dir():
        return
    import yaml

    old = yaml.safe_load(p.read_text()) or {}
    new = cfg.model_dump(mode="json")
    # input *locations* may move between attempts (a new kfp.local run dir holds the same cached
    # artifacts); what they contain is pinned by the step cache key, so only settings are compared
    ignored = {"metrics", "model_dir", "data_dir"}
    diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k) and k not in ignored)
    if diff:
        raise ConfigError(f"{out} holds a partial run with a different config ({', '.join(diff)} "
                          "differ): use another output dir or delete it to start over")


def run(job: StageJob, env: dict | None = None, progress: Progress | None = None,
        *, poll_s: float = 0.5) -> StageResult:
    cfg, nproc = job.recipe, job.procs_per_node
    if job.nodes != 1:
        raise ConfigError(f"training.launcher torchrun runs on one machine; training.nodes is {job.nodes}: "
                          "use launcher trainjob for multi-node training")
    out = Path(cfg.output_dir)
    done = finished_result(out)
    if done is not None:
        if progress:
            progress(done.steps, done.steps, {"loss": done.final_loss})
        return done
    out.mkdir(parents=True, exist_ok=True)
    _check_same_config(out, cfg)
    cfg_path = dump_config(cfg, out / CONFIG_FILE, nproc)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc),
           "-m", "ichigo.training.recipe", "--config", str(cfg_path)]
    penv = {**os.environ, **(env or {})}
    penv.update(recipe_env(penv))
    penv.setdefault("PYTHONUNBUFFERED", "1")
    t0 = time.time()
    tail: deque[str] = deque(maxlen=40)
    log_file = open(out / LOG_FILE, "a")
    log_file.write(f"$ {launch_command(nproc, str(cfg_path))}\n")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=penv,
                            start_new_session=True)

    def pump() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            tail.append(line.rstrip())
            log_file.write(line)
            if not line.startswith("tokenize:"):
                tqdm.write(line.rstrip(), file=sys.stderr)

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    metrics = MetricsTail(out / TRAIN_METRICS_FILE)
    follower = StepFollower(cfg.stage, cfg.steps, progress)
    try:
        while True:
            for row in metrics.read():
                follower.update(row["step"], row)
            if proc.poll() is not None:
                for row in metrics.read():  # the rows written between the last read and the exit
                    follower.update(row["step"], row)
                break
            time.sleep(poll_s)
    except BaseException:
        # interrupted (Ctrl-C, a cancelled pipeline step): stop the whole torchrun group; the next
        # call resumes from the newest checkpoint
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        raise
    finally:
        follower.close()
        reader.join(timeout=10)
        log_file.close()
    done = finished_result(out)
    if proc.returncode != 0 or done is None:
        raise TrainingFailed(f"{cfg.stage} training exited with code {proc.returncode} "
                             f"(log: {out / LOG_FILE}); last lines:\n" + "\n".join(tail))
    done.wall_seconds = time.time() - t0
    return done
