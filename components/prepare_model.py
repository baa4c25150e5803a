from kfp import dsl

from components.runtime import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def prepare_model(settings: str, cache_dir: str, model: dsl.Output[dsl.Model]):
    """Base LLM (embedded: built and pre-trained locally) + the 515 sound tokens."""
    from components.runtime import as_dict, step_profile
    from ichigo.cache import run_step
    from ichigo.model.prepare import prepare_model as prepare

    profile = step_profile(settings, "prepare_model")
    summary = run_step("prepare_model", settings, {}, model.path,
                       lambda out: as_dict(prepare(profile, out)), cache_dir or None)
    model.metadata.update({k: v for k, v in summary.items() if isinstance(v, (int, float, str, bool))})
