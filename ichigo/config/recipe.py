"""THE training config: what one stage run of the recipe reads (torchtune-style sections).

A profile does not restate it: `training.stages.<stage>` is a partial of it in flat keys
(`lr`, `warmup_steps`, ...; `STAGE_FIELDS` says where each lands), merged over the defaults here
together with the training-level settings (device, dtype, ...), and validated once, by
`RecipeConfig`. Every rule (warmup < steps, the dtype rule, the global batch) lives here once; the
profile runs the same merge on load, so a bad stage setting fails there, naming its profile field.
It lives under `ichigo.config` (not `ichigo.training`) because profile validation needs it and
`ichigo.training` sits above the config package.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

from pydantic import Field, ValidationError, model_validator

from ichigo.config.base import Section

Stage = Literal["stage1", "stage2", "stage3"]
STAGES: tuple[str, ...] = get_args(Stage)  # the one place the stage names are spelled


class OptimizerConfig(Section):
    lr: float = Field(gt=0)
    weight_decay: float = Field(0.005, ge=0)
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = Field(1e-8, gt=0)
    fused: bool | Literal["auto"] = "auto"  # auto: fused AdamW on CUDA, foreach on CPU


class SchedulerConfig(Section):
    warmup_steps: int = Field(ge=0)  # linear warmup, then cosine to 0 at `steps`


class DataSection(Section):
    max_seq_len: int = Field(ge=8)
    pack: bool = True
    train_on_input: bool = True


class CheckpointSection(Section):
    every: int = Field(0, ge=0)  # 0: only the final model
    keep_last: int = Field(2, ge=1)
    resume: bool = True  # continue from the newest complete checkpoint in output_dir


class MetricsSection(Section):
    mlflow_every: int = Field(20, ge=1)  # steps per MLflow log_batch call (rank 0 only)
    stdout_every: int = Field(10, ge=1)


def check_dtype(device: str, dtype: str) -> None:
    """The dtype rule, in one place (profile load and recipe both come through here): bf16 is
    valid on CUDA and on CPU. Whether a CPU run really computes in bf16 is decided where it
    trains, by ichigo.precision.training_bf16 (native AMX/AVX512-BF16, else fp32)."""
    if dtype not in ("fp32", "bf16"):
        raise ValueError(f"dtype {dtype!r} is not supported on {device}: use fp32 or bf16")


def check_global_batch(per_device_batch: int, grad_accum: int, world_size: int, global_batch: int | None) -> None:
    """The global batch is derived from the launch, never trusted: a mismatch is an error."""
    if global_batch is None:
        return
    derived = per_device_batch * grad_accum * world_size
    if derived != global_batch:
        raise ValueError(f"per_device_batch ({per_device_batch}) x grad_accum ({grad_accum}) x world "
                         f"size ({world_size}) = {derived}, but global_batch is {global_batch}")


class RecipeConfig(Section):
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
        check_dtype(self.device, self.dtype)
        return self

    def check_world(self, world_size: int) -> None:
        from ichigo.errors import ConfigError

        try:
            check_global_batch(self.per_device_batch, self.grad_accum, world_size, self.global_batch)
        except ValueError as e:
            raise ConfigError(f"{e}: launch with the world size the config was written for, or fix "
                              "the batch settings") from None


# profile key (training.stages.<stage>.KEY) -> where it lands in RecipeConfig
STAGE_FIELDS: dict[str, tuple[str, ...]] = {
    "steps": ("steps",), "per_device_batch": ("per_device_batch",), "grad_accum": ("grad_accum",),
    "global_batch": ("global_batch",), "grad_clip": ("grad_clip",), "seed": ("seed",),
    "lr": ("optimizer", "lr"), "weight_decay": ("optimizer", "weight_decay"),
    "warmup_steps": ("lr_scheduler", "warmup_steps"),
    "max_seq_len": ("data", "max_seq_len"), "pack": ("data", "pack"),
    "train_on_input": ("data", "train_on_input"),
    "checkpoint_every": ("checkpoint", "every"),
}
# training-level profile keys (training.KEY) that every stage's recipe config carries
LAUNCH_FIELDS = ("device", "dtype", "activation_checkpointing", "loss_chunks")
_PROFILE_KEY = {path: key for key, path in STAGE_FIELDS.items()}


def merge_stage(stage: str, launch: dict[str, Any], partial: dict[str, Any], paths: dict[str, str]) -> dict:
    """The raw recipe config of one stage: the launch settings and the stage's partial (flat profile
    keys) laid into the recipe's sections; unset keys keep the recipe's defaults."""
    raw: dict[str, Any] = {"stage": stage, **paths, "data": {}, "optimizer": {}, "lr_scheduler": {}}
    raw.update({k: launch[k] for k in LAUNCH_FIELDS if k in launch})
    for key, value in partial.items():
        if value is None:
            continue
        *section, leaf = STAGE_FIELDS[key]
        node = raw
        for s in section:
            node = node.setdefault(s, {})
        node[leaf] = value
    return raw


def build_recipe_config(stage: str, launch: dict[str, Any], partial: dict[str, Any],
                        paths: dict[str, str], world_size: int | None = None) -> RecipeConfig:
    """Merge and validate (raises ValueError naming the profile field: training.stages.<stage>.KEY,
    or training.KEY for a launch setting)."""
    raw = merge_stage(stage, launch, partial, paths)
    try:
        cfg = RecipeConfig.model_validate(raw)
    except ValidationError as e:
        msgs = []
        for err in e.errors():
            loc = tuple(str(p) for p in err["loc"])
            if loc in _PROFILE_KEY:
                where = f"training.stages.{stage}.{_PROFILE_KEY[loc]}"
            elif loc and loc[0] in LAUNCH_FIELDS:
                where = f"training.{loc[0]}"
            else:
                where = f"training.stages.{stage}" + (f" ({'.'.join(loc)})" if loc else "")
            msg = err["msg"].removeprefix("Value error, ")
            msgs.append(f"{where}: {msg}")
        raise ValueError("; ".join(msgs)) from None
    if world_size is not None:
        try:
            check_global_batch(cfg.per_device_batch, cfg.grad_accum, world_size, cfg.global_batch)
        except ValueError as e:
            raise ValueError(f"training.stages.{stage}: {e}") from None
    return cfg
