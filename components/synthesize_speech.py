from typing import List

from kfp import dsl

from components.runtime import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def synthesize_speech(settings: str, cache_dir: str, shard: int, corpus: dsl.Output[dsl.Dataset]):
    """Share `shard` of data.synthesis_shards of the speech corpus: TTS of its prompts/dialogue
    turns (train voices) and held-out eval prompts, its shards of the ASR sources, noise."""
    from components.runtime import as_dict, step_profile
    from ichigo.cache import run_step
    from ichigo.data.speech_corpus import build_speech_corpus
    from ichigo.errors import ConfigError

    profile = step_profile(settings, "speech_corpus")
    num_shards = profile.data.synthesis_shards
    if not 0 <= shard < num_shards:
        raise ConfigError(f"synthesis share {shard} is outside 0..{num_shards - 1} (data.synthesis_shards)")
    summary = run_step("synthesize_speech", {"settings": settings, "shard": [shard, num_shards]}, {}, corpus.path,
                       lambda out: as_dict(build_speech_corpus(profile, out, shard=shard, num_shards=num_shards)),
                       cache_dir or None)
    corpus.metadata.update({k: v for k, v in summary.items() if isinstance(v, (int, float, str, bool))})


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def merge_speech_corpus(settings: str, cache_dir: str, parts: dsl.Input[List[dsl.Dataset]],
                        corpus: dsl.Output[dsl.Dataset]):
    """Join the shares into one corpus (checks that every share is there and planned alike);
    its summary lists every source: rows used, rows skipped by reason."""
    import json
    from pathlib import Path

    from components.runtime import as_dict, step_profile
    from ichigo.cache import run_step
    from ichigo.data.speech_corpus import merge_corpus

    profile = step_profile(settings, "speech_corpus")
    dirs = sorted((Path(p.path) for p in parts), key=lambda d: json.loads((d / "fanout.json").read_text())["shard"])
    summary = run_step("merge_speech_corpus", settings,
                       {f"part{k}": d for k, d in enumerate(dirs)}, corpus.path,
                       lambda out: as_dict(merge_corpus(profile, dirs, out)), cache_dir or None)
    corpus.metadata.update({k: v for k, v in summary.items() if isinstance(v, (int, float, str, bool))})
