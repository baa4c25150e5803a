from kfp import dsl

from components.runtime import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def build_datasets(settings: str, cache_dir: str, tokens: dsl.Input[dsl.Dataset],
                   stages: dsl.Output[dsl.Dataset]):
    """Stage 1 (sound only), stage 2 (70/20/10 mix), stage 3 (multi-turn + inaudible), eval set."""
    from components.runtime import as_dict, step_profile
    from ichigo.cache import run_step
    from ichigo.data.stages import build_stage_datasets

    # the data settings and what the stage plan (steps, packs) reads of each training stage
    profile = step_profile(settings, "stage_datasets")
    summary = run_step("build_datasets", settings, {"tokens": tokens.path},
                       stages.path, lambda out: as_dict(build_stage_datasets(profile, tokens.path, out)),
                       cache_dir or None)
    stages.metadata.update({k: v for k, v in summary.items() if isinstance(v, (int, float, str, bool))})
