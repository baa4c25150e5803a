"""Run one training stage where the profile says: torchrun on this machine, or a Kubeflow Trainer
TrainJob on the cluster. Same recipe, same per-stage config, either way.

    result = run_stage(profile, "stage2", model_dir, data_dir, out_dir)
    next_model_dir = result.output_dir

The backends (`ichigo.training.backends.{torchrun,trainjob}`) share one call, `run(job, env,
progress) -> StageResult`; this module only builds the job from the profile and picks one.
"""

from __future__ import annotations

from pathlib import Path

from ichigo.config import Profile
from ichigo.config.recipe import RecipeConfig
from ichigo.training.backends import torchrun, trainjob
from ichigo.training.backends.job import StageJob
from ichigo.training.results import Progress, StageResult, TrainingFailed  # noqa: F401 (re-exported)

BACKENDS = {"torchrun": torchrun, "trainjob": trainjob}


def stage_config(profile: Profile, stage: str, model_dir: str | Path, data_dir: str | Path,
                 out_dir: str | Path) -> RecipeConfig:
    """The recipe config of one stage: the recipe's defaults, overridden by the profile."""
    return StageJob.from_profile(profile, stage, model_dir, data_dir, out_dir).recipe


def run_stage(profile: Profile, stage: str, model_dir: str | Path, data_dir: str | Path,
              out_dir: str | Path, env: dict | None = None, progress: Progress | None = None,
              *, backend=None) -> StageResult:
    """Train `stage` from `model_dir` on `data_dir` into `out_dir` (result.output_dir = HF dir).
    `env`: extra environment for the trainer (e.g. MLFLOW_TRACKING_URI / MLFLOW_RUN_ID).
    `backend`: a `trainjob.KubeBackend` for the cluster path (default: from kubeconfig)."""
    job = StageJob.from_profile(profile, stage, model_dir, data_dir, out_dir)
    if profile.training.launcher == "trainjob":
        return trainjob.run(job, env, progress, backend=backend)
    return BACKENDS[profile.training.launcher].run(job, env, progress)
