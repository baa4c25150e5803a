from kfp import dsl

from components.runtime import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def synthesize_speech(profile_json: str, cache_dir: str, corpus: dsl.Output[dsl.Dataset]):
    """TTS over the question/statement corpus (train voices) and held-out voices, plus noise."""
    from components.runtime import as_dict, profile_from_json
    from ichigo.cache import run_step
    from ichigo.data.speech_corpus import build_speech_corpus

    profile = profile_from_json(profile_json)
    config = {"tts": profile.tts.model_dump(), "data": profile.data.model_dump()}
    summary = run_step("synthesize_speech", config, {}, corpus.path,
                       lambda out: as_dict(build_speech_corpus(profile, out)), cache_dir or None)
    corpus.metadata.update({k: v for k, v in summary.items() if isinstance(v, (int, float, str, bool))})
