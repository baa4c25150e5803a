"""The recipe's config: one typed YAML file per stage run (torchtune-style: a header comment with the
exact launch command, then plain sections). The launcher writes it from the profile's StageConfig
and the stage's paths; the per-stage templates in `configs/` hold the documented defaults."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from ichigo.config.validation import validate, yaml_mapping
from ichigo.errors import ConfigError

Stage = Literal["stage1", "stage2", "stage3"]
STAGES: tuple[str, ...] = ("stage1", "stage2", "stage3")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OptimizerConfig(_Section):
    lr: float = Field(gt=0)
    weight_decay: float = Field(0.005, ge=0)
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = Field(1e-8, gt=0)
    fused: bool | Literal["auto"] = "auto"  # auto: fused AdamW on CUDA, foreach on CPU


class SchedulerConfig(_Section):
    warmup_steps: int = Field(ge=0)  # linear warmup, then cosine to 0 at `steps`


class DataSection(_Section):
    max_seq_len: int = Field(ge=8)
    pack: bool = True
    train_on_input: bool = True


class CheckpointSection(_Section):
    every: int = Field(0, ge=0)  # 0: only the final model
    keep_last: int = Field(2, ge=1)
    resume: bool = True  # continue from the newest complete checkpoint in output_dir


class MetricsSection(_Section):
    mlflow_every: int = Field(20, ge=1)  # steps per MLflow log_batch call (rank 0 only)
    stdout_every: int = Field(10, ge=1)


class RecipeConfig(_Section):
    stage: Stage
    model_dir: str  # HF-format dir (or s3:// prefix) to start from
    data_dir: str  # stage dataset: part-*.parquet (or s3:// prefix)
    output_dir: str  # metrics.jsonl, checkpoints/, model/ (or s3:// prefix, staged locally)
    device: Literal["cpu", "cuda"] = "cpu"
    dtype: Literal["fp32", "bf16"] = "fp32"
    seed: int = 0
    steps: int = Field(ge=1)
    per_device_batch: int = Field(ge=1)
    grad_accum: int = Field(1, ge=1)
    global_batch: int | None = Field(None, ge=1)  # when set: checked against the world size
    grad_clip: float = Field(1.0, gt=0)
    activation_checkpointing: bool = False
    loss_chunks: int = Field(0, ge=0)  # >0: output projection + CE in chunks (large vocab on GPU)
    data: DataSection
    optimizer: OptimizerConfig
    lr_scheduler: SchedulerConfig
    checkpoint: CheckpointSection = CheckpointSection()
    metrics: MetricsSection = MetricsSection()

    @model_validator(mode="after")
    def _check(self) -> "RecipeConfig":
        if self.lr_scheduler.warmup_steps >= self.steps:
            raise ValueError(f"lr_scheduler.warmup_steps ({self.lr_scheduler.warmup_steps}) must be "
                             f"< steps ({self.steps})")
        return self

    def check_world(self, world_size: int) -> None:
        if self.global_batch is None:
            return
        derived = self.per_device_batch * self.grad_accum * world_size
        if derived != self.global_batch:
            raise ConfigError(
                f"per_device_batch ({self.per_device_batch}) x grad_accum ({self.grad_accum}) x world "
                f"size ({world_size}) = {derived}, but global_batch is {self.global_batch}: launch "
                "with the world size the config was written for, or fix the batch settings")


def template(stage: str) -> dict:
    """The packaged per-stage template (configs/<stage>.yaml) as a dict."""
    if stage not in STAGES:
        raise ConfigError(f"unknown stage {stage!r}: choose one of {list(STAGES)}")
    text = resources.files("ichigo.training").joinpath(f"configs/{stage}.yaml").read_text()
    return yaml.safe_load(text)


def parse_config(raw: dict, source: str = "<config>") -> RecipeConfig:
    return validate(RecipeConfig, raw, source, "training config")


def load_config(spec: str) -> RecipeConfig:
    """`spec` is a YAML path, or `env:NAME` for YAML text in an environment variable (how a
    TrainJob passes it: no ConfigMap needed)."""
    if spec.startswith("env:"):
        name = spec[4:]
        if name not in os.environ:
            raise ConfigError(f"--config {spec}: environment variable {name} is not set")
        text, source = os.environ[name], spec
    else:
        p = Path(spec)
        if not p.is_file():
            raise ConfigError(f"training config {p} does not exist")
        text, source = p.read_text(), str(p)
    return parse_config(yaml_mapping(text, source, "training config"), source)


def launch_command(nproc: int, config_path: str) -> str:
    return f"torchrun --standalone --nproc_per_node {nproc} -m ichigo.training.recipe --config {config_path}"


def dump_config(cfg: RecipeConfig, path: str | Path, nproc: int, description: str = "") -> Path:
    """Write `cfg` as YAML with a header comment showing the exact launch command."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    header = [f"# Ichigo {cfg.stage} training config (written by ichigo.training.launch).",
              *(f"# {line}" for line in description.splitlines() if line),
              "# Launch:", f"#   {launch_command(nproc, str(p))}", ""]
    body = yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text("\n".join(header) + body)
    os.replace(tmp, p)
    return p
