"""`ichigo run --profile <yaml>` with a profile that declares sources of every format (smoke
sizes): the whole pipeline trains on them and runs/last_run.json lists every source."""

import json

import pytest
import yaml

from ichigo.config import load_profile
from tests.conftest import need_binary
from tests.data.source_fixtures import (write_alpaca, write_commonvoice, write_dialogues, write_librispeech,
                                        write_messages, write_mls, write_parquet_asr, write_sharegpt)

pytestmark = pytest.mark.slow  # the whole smoke pipeline (~4 min on 2 cores)


def test_ichigo_run_with_declared_sources(tmp_path):
    need_binary("espeak-ng")
    from pipelines.cli import main

    src = tmp_path / "src"
    sources = [
        {"name": "mls", "kind": "asr", "format": "mls", "uri": str(write_mls(src / "mls"))},
        {"name": "ls", "kind": "asr", "format": "librispeech", "uri": str(write_librispeech(src / "ls"))},
        {"name": "cv", "kind": "asr", "format": "commonvoice", "uri": str(write_commonvoice(src / "cv"))},
        {"name": "hf", "kind": "asr", "format": "parquet", "uri": str(write_parquet_asr(src / "hf")),
         "columns": {"text": "transcription"}, "max_seconds": 20},
        {"name": "alpaca", "kind": "instruct", "format": "alpaca", "uri": str(write_alpaca(src / "a.jsonl"))},
        {"name": "sg", "kind": "instruct", "format": "sharegpt", "uri": str(write_sharegpt(src / "s.parquet"))},
        {"name": "chats", "kind": "text", "format": "messages", "uri": str(write_messages(src / "m.jsonl"))},
        {"name": "dialogues", "kind": "dialogue", "format": "messages", "uri": str(write_dialogues(src / "d.jsonl"))},
    ]
    raw = load_profile("smoke").model_dump()
    raw["data"].update(sources=sources, max_spoken_chars=200, num_eval_sentences=0)
    raw["training"]["stages"]["stage1"]["pack"] = False  # 11 real utterances: one row per slot
    profile_yaml = tmp_path / "mine.yaml"
    profile_yaml.write_text(yaml.safe_dump(raw))
    wd = tmp_path / "runs"
    assert main(["run", "--profile", str(profile_yaml), "--workdir", str(wd)]) in (0, 3)  # 3: gate said no
    last = json.loads((wd / "last_run.json").read_text())
    got = {s["name"]: s for s in last["sources"]}
    assert set(got) == {s["name"] for s in sources}
    assert got["mls"]["used"] == 4 and got["mls"]["skipped"]["missing_audio"] == 1
    assert got["dialogues"]["skipped"] == {"single_turn": 1, "too_long_to_speak": 1}
    assert set(last["stage_losses"]) == {"stage1", "stage2", "stage3"}
