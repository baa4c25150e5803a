from kfp import dsl

from components.runtime import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def train_stage(settings: str, cache_dir: str, stage: str, model: dsl.Input[dsl.Model],
                stages: dsl.Input[dsl.Dataset], trained: dsl.Output[dsl.Model]):
    """One training stage with the project recipe: torchrun locally, a Kubeflow Trainer TrainJob
    on the cluster (profile.training.launcher). Per-step metrics go to MLflow."""
    import os
    from pathlib import Path

    from components.runtime import as_dict, model_dir, quiet_logs, step_profile
    from ichigo.cache import run_step
    from ichigo.tracking import tracking_run
    from ichigo.training.launch import run_stage

    quiet_logs()
    from ichigo.data.stage_plan import apply_plan

    # this stage's settings and the launch settings; earlier stages are pinned by the model input's
    # key. budget: samples -> the packed steps planned from the stage data (keyed by the data input)
    profile = apply_plan(step_profile(settings, f"train_{stage}"), stage, Path(stages.path) / stage)
    # + what decides bitwise-equal losses (torch build, CPU ISA, threads): another machine or
    # image is another cache entry, not a silently different model under the same key
    from ichigo.training.determinism import launch_fingerprint

    config = {"settings": settings, "determinism": launch_fingerprint()}

    def train(out):
        with tracking_run(profile.registry, stage, params=profile.training.stages[stage].model_dump()) as env:
            result = as_dict(run_stage(profile, stage, model_dir(model.path), Path(stages.path) / stage,
                                       out, env=env))
        # where the HF model sits inside the artifact (relative: the cache may move the dir)
        result["hf_subdir"] = os.path.relpath(result.pop("output_dir", out), out)
        return result

    # keyed on this stage's own data (a content hash of its dir), not the whole datasets step: a new
    # stage-3 mix rebuilds the datasets but leaves stages 1 and 2 cached
    summary = run_step(f"train_{stage}", config, {"model": model.path, "data": Path(stages.path) / stage},
                       trained.path, train, cache_dir or None)
    trained.metadata.update({"stage": stage, "final_loss": summary.get("final_loss"),
                             "steps": summary.get("steps"), "train_seconds": summary.get("train_seconds"),
                             "cached": summary.get("cached")})
