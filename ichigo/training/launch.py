"""Run one training stage where the profile says: torchrun on this machine, or a Kubeflow Trainer
TrainJob on the cluster. Same recipe, same per-stage config, either way.

    result = run_stage(profile, "stage2", model_dir, data_dir, out_dir)
    next_model_dir = result.output_dir

Local runs are idempotent (a finished out_dir is returned as is) and resume a partial one (a
preempted or killed run continues from its newest checkpoint).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from ichigo.config import Profile
from ichigo.errors import ConfigError, IchigoError
from ichigo.training.config import RecipeConfig, dump_config, launch_command, parse_config, template
from ichigo.training.metrics import METRICS_FILE

CONFIG_FILE = "config.yaml"
RESULT_FILE = "result.json"
# progress(step, total_steps, metrics_row)
Progress = Callable[[int, int, dict], None]


class TrainingFailed(IchigoError):
    """The training job ended without a result; the message carries the reason and log tail."""


@dataclass
class StageResult:
    stage: str
    steps: int
    losses: list[float]
    final_loss: float
    tokens_per_s: float
    seconds: float
    output_dir: str  # the HF model dir: model_dir of the next stage
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def result_from_json(data: dict) -> StageResult:
    return StageResult(stage=data["stage"], steps=data["steps"], losses=list(data["losses"]),
                       final_loss=float(data["final_loss"]), tokens_per_s=float(data["tokens_per_s"]),
                       seconds=float(data.get("train_seconds", 0.0)), output_dir=data["output_dir"],
                       extra={"world_size": data.get("world_size")})


def stage_config(profile: Profile, stage: str, model_dir: str | Path, data_dir: str | Path,
                 out_dir: str | Path) -> RecipeConfig:
    """The recipe config of one stage: the packaged template, overridden by the profile."""
    tr = profile.training
    if stage not in tr.stages:
        raise ConfigError(f"unknown stage {stage!r}: the profile defines {sorted(tr.stages)}")
    st = tr.stages[stage]
    t = template(stage)
    raw = {
        **t, "stage": stage, "model_dir": str(model_dir), "data_dir": str(data_dir),
        "output_dir": str(out_dir), "device": tr.device, "dtype": tr.dtype, "seed": st.seed,
        "steps": st.steps, "per_device_batch": st.per_device_batch, "grad_accum": st.grad_accum,
        "global_batch": st.global_batch, "grad_clip": st.grad_clip,
        "activation_checkpointing": tr.activation_checkpointing,
        # chunked CE only pays off for a large vocabulary on GPU
        "loss_chunks": t.get("loss_chunks", 0) if tr.device == "cuda" else 0,
        "data": {**t["data"], "max_seq_len": st.max_seq_len, "pack": st.pack, "train_on_input": st.train_on_input},
        "optimizer": {**t["optimizer"], "lr": st.lr, "weight_decay": st.weight_decay},
        "lr_scheduler": {**t["lr_scheduler"], "warmup_steps": st.warmup_steps},
        "checkpoint": {**t.get("checkpoint", {}), "every": st.checkpoint_every},
    }
    return parse_config(raw, f"profile {profile.name!r} {stage}")


def run_stage(profile: Profile, stage: str, model_dir: str | Path, data_dir: str | Path,
              out_dir: str | Path, env: dict | None = None, progress: Progress | None = None,
              *, backend=None) -> StageResult:
    """Train `stage` from `model_dir` on `data_dir` into `out_dir` (result.output_dir = HF dir).
    `env`: extra environment for the trainer (e.g. MLFLOW_TRACKING_URI / MLFLOW_RUN_ID).
    `backend`: a `trainjob.KubeBackend` for the cluster path (default: from kubeconfig)."""
    cfg = stage_config(profile, stage, model_dir, data_dir, out_dir)
    if profile.training.launcher == "torchrun":
        return run_local(cfg, profile.training.procs_per_node, profile.training.nodes, env, progress)
    from ichigo.training.trainjob import run_trainjob

    return run_trainjob(profile, cfg, env=env, progress=progress, backend=backend)


# -- local: torchrun subprocess ------------------------------------------------------------------
def finished_result(out: Path) -> StageResult | None:
    if (out / RESULT_FILE).is_file() and (out / "model" / "config.json").is_file():
        return result_from_json(json.loads((out / RESULT_FILE).read_text()))
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


class _MetricsTail:
    """Follows metrics.jsonl as the recipe appends to it (only whole lines)."""

    def __init__(self, path: Path):
        self.path, self.pos, self.buf = path, 0, ""

    def read(self) -> list[dict]:
        if not self.path.is_file():
            return []
        if self.path.stat().st_size < self.pos:  # rewritten on resume
            self.pos, self.buf = 0, ""
        with open(self.path) as f:
            f.seek(self.pos)
            chunk = f.read()
            self.pos = f.tell()
        self.buf += chunk
        *lines, self.buf = self.buf.split("\n")
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
        return out


def run_local(cfg: RecipeConfig, nproc: int, nodes: int = 1, env: dict | None = None,
              progress: Progress | None = None, poll_s: float = 0.5) -> StageResult:
    if nodes != 1:
        raise ConfigError(f"training.launcher torchrun runs on one machine; training.nodes is {nodes}: "
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
    penv.setdefault("PYTHONUNBUFFERED", "1")
    t0 = time.time()
    tail: deque[str] = deque(maxlen=40)
    log_file = open(out / "train.log", "a")
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
    metrics = _MetricsTail(out / METRICS_FILE)
    bar = tqdm(total=cfg.steps, desc=cfg.stage, unit="step", dynamic_ncols=True)
    try:
        while True:
            rows = metrics.read()
            for row in rows:
                bar.n = row["step"]
                bar.set_postfix(loss=f"{row['loss']:.3f}", refresh=False)
                if progress:
                    progress(row["step"], cfg.steps, row)
            if rows:
                bar.refresh()
            if proc.poll() is not None:
                break
            time.sleep(poll_s)
    except BaseException:
        # interrupted (Ctrl-C, a cancelled pipeline step): stop the whole torchrun group; the next
        # call resumes from the newest checkpoint
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)
        raise
    finally:
        bar.close()
        reader.join(timeout=10)
        log_file.close()
    done = finished_result(out)
    if proc.returncode != 0 or done is None:
        raise TrainingFailed(f"{cfg.stage} training exited with code {proc.returncode} "
                             f"(log: {out / 'train.log'}); last lines:\n" + "\n".join(tail))
    done.extra["wall_seconds"] = time.time() - t0
    return done
