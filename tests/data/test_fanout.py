"""The synthesis fan-out (one KFP task per share; 2 locally) gives the same corpus as one build."""

import pyarrow.parquet as pq
import pytest

from ichigo.data.speech_corpus import build_speech_corpus, merge_corpus
from ichigo.errors import ConfigError
from ichigo.files import shard_paths

pytestmark = pytest.mark.slow


def _ids(d):
    return sorted(i for p in shard_paths(d) for i in pq.read_table(p, columns=["id"]).column("id").to_pylist())


def test_two_shares_merge_to_the_whole_corpus(built, small_profile, tmp_path):
    parts = [tmp_path / f"part{k}" for k in range(2)]
    for k, d in enumerate(parts):
        build_speech_corpus(small_profile, d, shard_utterances=25, progress=False, shard=k, num_shards=2, workers=1)
    # each share synthesised only its half of the world's MLS audio
    flacs = [len(list((d / "world/mls/train/audio").rglob("*.flac"))) for d in parts]
    assert sum(flacs) == small_profile.data.stage1_utterances and min(flacs) > 0
    with pytest.raises(ConfigError, match="do not cover 0..1"):
        merge_corpus(small_profile, parts[:1], tmp_path / "bad")
    m = merge_corpus(small_profile, parts, tmp_path / "merged")
    assert _ids(tmp_path / "merged") == _ids(built["root"] / "corpus")
    assert m.counts == built["corpus"].counts
    assert {s["name"]: s["used"] for s in m.sources} == {s["name"]: s["used"] for s in built["corpus"].sources}


def test_kfp_local_fans_synthesis_out_over_two_shares(small_profile, tmp_path):
    """The pipeline's own synthesis sub-DAG (plan -> ParallelFor shares -> merge) under kfp.local."""
    import json

    from kfp import dsl, local

    from components.synthesize_speech import merge_speech_corpus, synthesize_speech
    from ichigo.config.steps import step_view

    @dsl.component
    def report(corpus: dsl.Input[dsl.Dataset]) -> str:
        from pathlib import Path
        return (Path(corpus.path) / "manifest.json").read_text()

    @dsl.pipeline(name="synthesis-fanout")
    def fanout(settings: str, synthesis_shares: list) -> str:
        with dsl.ParallelFor(items=synthesis_shares) as shard:
            share = synthesize_speech(settings=settings, cache_dir="", shard=shard)
        merged = merge_speech_corpus(settings=settings, cache_dir="",
                                     parts=dsl.Collected(share.outputs["corpus"]))
        return report(corpus=merged.outputs["corpus"]).output

    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(tmp_path / "kfp"),
               raise_on_error=True)
    small = small_profile.model_copy(update={"data": small_profile.data.model_copy(update={"synthesis_shards": 2})})
    manifest = json.loads(fanout(settings=step_view(small, "speech_corpus"), synthesis_shares=[0, 1]).output)
    d = small.data
    assert manifest["counts"]["train/asr"] == d.stage1_utterances
    assert manifest["counts"]["train/question"] == d.num_train_questions
    assert {s["name"] for s in manifest["sources"]} == {"world_asr", "world_instruct", "world_eval",
                                                           "world_typed", "world_dialogues"}
