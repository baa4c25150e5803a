from kfp import dsl

from components.runtime import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def fit_speech_tokenizer(settings: str, cache_dir: str, corpus: dsl.Input[dsl.Dataset],
                         tokenizer: dsl.Output[dsl.Model]):
    """Embedded: fit the codebook tokenizer on training audio. Cluster: fetch the WhisperVQ file."""
    from components.runtime import step_profile
    from ichigo.cache import run_step
    from ichigo.speech_tokenizer.train import fit_tokenizer_step

    profile = step_profile(settings, "speech_tokenizer")

    def fit(out):
        path = fit_tokenizer_step(profile, corpus.path, out)
        return {"file": str(__import__("pathlib").Path(path).relative_to(out)),
                "backend": profile.speech_tokenizer.backend}

    summary = run_step("fit_speech_tokenizer", settings,
                       {"corpus": corpus.path}, tokenizer.path, fit, cache_dir or None)
    tokenizer.metadata.update({"file": summary["file"], "backend": summary["backend"], "cached": summary["cached"]})


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def tokenize_speech(settings: str, cache_dir: str, corpus: dsl.Input[dsl.Dataset],
                    tokenizer: dsl.Input[dsl.Model], tokens: dsl.Output[dsl.Dataset]):
    """Sound codes for every utterance (batched; bad audio skipped with a counted reason)."""
    from pathlib import Path

    from components.runtime import as_dict, step_profile, step_summary
    from ichigo.cache import run_step
    from ichigo.data.tokenize import tokenize_corpus

    profile = step_profile(settings, "speech_tokenizer")
    tok_file = Path(tokenizer.path) / step_summary(tokenizer.path)["file"]
    summary = run_step("tokenize_speech", settings,
                       {"corpus": corpus.path, "tokenizer": tokenizer.path}, tokens.path,
                       lambda out: as_dict(tokenize_corpus(profile, corpus.path, tok_file, out)),
                       cache_dir or None)
    tokens.metadata.update({k: v for k, v in summary.items() if isinstance(v, (int, float, str, bool))})
