"""A profile YAML that declares sources of every format builds the corpus and the three stages
from them: broken rows counted per source, stage 1 from the real ASR audio (language-tagged),
stage-3 dialogues from the dialogue source."""

import json

import pytest
import yaml

from ichigo.config import load_profile
from ichigo.records import read_stage_rows
from tests.conftest import need_binary
from tests.data.source_fixtures import (write_alpaca, write_commonvoice, write_dialogues, write_librispeech,
                                        write_messages, write_mls, write_parquet_asr, write_sharegpt)

pytestmark = pytest.mark.slow  # TTS of ~40 prompts + tokenization (~15 s)


def test_profile_with_every_format_builds_all_stages(tmp_path):
    need_binary("espeak-ng")
    from ichigo.data.speech_corpus import build_speech_corpus
    from ichigo.data.stages import build_stage_datasets
    from ichigo.data.tokenize import tokenize_corpus
    from ichigo.prompts import TRANSCRIBE_PROMPTS
    from ichigo.speech_tokenizer.train import fit_tokenizer_step

    src = tmp_path / "src"
    sources = [
        {"name": "mls_de", "kind": "asr", "format": "mls", "uri": str(write_mls(src / "mls")), "language": "de"},
        {"name": "ls", "kind": "asr", "format": "librispeech", "uri": str(write_librispeech(src / "ls"))},
        {"name": "cv", "kind": "asr", "format": "commonvoice", "uri": str(write_commonvoice(src / "cv"))},
        {"name": "hf", "kind": "asr", "format": "parquet", "uri": str(write_parquet_asr(src / "hf")),
         "columns": {"text": "transcription"}, "max_seconds": 20},
        {"name": "alpaca", "kind": "instruct", "format": "alpaca", "uri": str(write_alpaca(src / "a.jsonl"))},
        {"name": "sg", "kind": "instruct", "format": "sharegpt", "uri": str(write_sharegpt(src / "s.parquet"))},
        {"name": "chats", "kind": "text", "format": "messages", "uri": str(write_messages(src / "m.jsonl"))},
        {"name": "dialogues", "kind": "dialogue", "format": "messages",
         "uri": str(write_dialogues(src / "d.jsonl"))},
    ]
    raw = load_profile("smoke").model_dump()
    raw["data"].update(sources=sources, num_train_questions=12, num_eval_questions=4, stage2_samples=40,
                       stage3_samples=20, max_spoken_chars=200, num_eval_sentences=0)
    raw["speech_tokenizer"].update(fit_seconds=10)
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(raw))  # what a user writes: a profile YAML with data.sources
    profile = load_profile(path)

    root = tmp_path / "run"
    corpus = build_speech_corpus(profile, root / "corpus", shard_utterances=5, progress=False)
    got = {s["name"]: s for s in corpus.sources}
    assert set(got) == {s["name"] for s in sources}
    assert got["mls_de"]["used"] == 4 and got["mls_de"]["skipped"] == {
        "empty_text": 1, "malformed_line": 1, "missing_audio": 1, "undecodable_audio": 1}
    assert got["hf"]["skipped"] == {"empty_text": 1, "too_long": 1, "undecodable_audio": 1}
    assert got["alpaca"]["skipped"] == {"empty_text": 1, "invalid_json": 1, "wrong_type": 1}
    assert got["dialogues"]["skipped"] == {"single_turn": 1, "too_long_to_speak": 1}
    assert corpus.counts["train/asr"] == 4 + 3 + 2 + 2 and not (root / "corpus/world").exists()

    tok = fit_tokenizer_step(profile, root / "corpus", root / "tokenizer")
    tokenize_corpus(profile, root / "corpus", tok, root / "tokens", progress=False)
    m = build_stage_datasets(profile, root / "tokens", root / "stages")
    assert m.extra["stage1_from"] == "asr" and m.extra["stage1_languages"] == {"de": 4, "en": 7}
    s2 = list(read_stage_rows(root / "stages/stage2"))
    asr_texts = {"spoken words number 0", "HELLO FROM 84 NUMBER 0", "A second sentence", "by path"}
    transcripts = {r.messages[-1].text for r in s2 if r.task == "transcription"}
    assert transcripts and all(r.messages[0].parts[0].strip() in TRANSCRIBE_PROMPTS for r in s2 if r.task == "transcription")
    assert transcripts & asr_texts
    s3 = [r for r in read_stage_rows(root / "stages/stage3") if r.task in ("two_turn", "four_turn")]
    for r in s3:  # answers of one dialogue, in order
        answers = [m.text for m in r.messages if m.role == "assistant"]
        conv = answers[0].split(" of ")[1]
        assert answers == [f"answer {k} of {conv}" for k in range(len(answers))]
    plan = json.loads((root / "stages/manifest.json").read_text())["extra"]["plan"]
    assert set(plan) == {"stage1", "stage2", "stage3"} and plan["stage1"]["samples"] == 11
