from kfp import dsl

from components.runtime import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def build_datasets(profile_json: str, cache_dir: str, tokens: dsl.Input[dsl.Dataset],
                   stages: dsl.Output[dsl.Dataset]):
    """Stage 1 (sound only), stage 2 (70/20/10 mix), stage 3 (multi-turn + inaudible), eval set."""
    from components.runtime import as_dict, profile_from_json
    from ichigo.cache import run_step
    from ichigo.data.stages import build_stage_datasets

    profile = profile_from_json(profile_json)
    # the stage plan (steps, packs) depends on the training stages too
    config = {"data": profile.data.model_dump(), "stages": profile.training.model_dump()["stages"]}
    summary = run_step("build_datasets", config, {"tokens": tokens.path},
                       stages.path, lambda out: as_dict(build_stage_datasets(profile, tokens.path, out)),
                       cache_dir or None)
    stages.metadata.update({k: v for k, v in summary.items() if isinstance(v, (int, float, str, bool))})
