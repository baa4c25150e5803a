"""Stage building from a hand-made tokens dir (no TTS): refusal filtering and the teacher path."""

import json
import random

import httpx
import pytest
import pyarrow as pa
import pyarrow.parquet as pq

from ichigo.config import load_profile
from ichigo.errors import InputError
from ichigo.records import EVAL_ASR_FILE, read_eval_items, read_stage_rows
from ichigo.refusal import is_refusal
from ichigo.data.stages import build_stage_datasets
from ichigo.data.tokenize import TOKENS_SCHEMA


def _tokens_dir(path, n=200, refusal_every=10):
    rng = random.Random(0)
    rows = []
    for i in range(n):
        ans = "I'm sorry, I cannot help with that." if i % refusal_every == 0 else f"answer {i}"
        rows.append({"id": f"q{i}", "split": "train", "kind": "question", "text": f"question {i}",
                     "answer": ans, "voice": "v", "seconds": 1.0, "skip": "", "audio_wav": b"",
                     "codes": [rng.randrange(512) for _ in range(rng.randrange(10, 60))]})
    for i in range(8):
        rows.append({"id": f"n{i}", "split": "train", "kind": "noise", "text": "", "answer": "",
                     "voice": "noise:white:1", "seconds": 1.0, "skip": "", "audio_wav": b"",
                     "codes": [7] * 25})
    path.mkdir()
    pq.write_table(pa.Table.from_pylist(rows, schema=TOKENS_SCHEMA), path / "part-00000.parquet")
    convs = []  # stage-3 dialogues over the spoken questions, answers from the conversation
    for i in range(0, n - 4, 4):
        turns = 2 if i % 8 else 4
        convs.append({"id": f"c{i}", "task": "two_turn" if turns == 2 else "four_turn", "messages": sum(
            ([{"role": "user", "content": f"question {i + k}"}, {"role": "assistant", "content": f"reply {i + k}"}]
             for k in range(turns)), [])})
    (path / "conversations.json").write_text(json.dumps(convs))
    return path


def test_refusal_like_audible_answers_are_capped(tmp_path, monkeypatch):
    monkeypatch.setenv("ICHIGO_CACHE_DIR", str(tmp_path / "cache"))  # teacher answers are cached there
    prof = load_profile("local", overrides={"data": {
        "stage2_samples": 400, "stage3_samples": 200, "max_refusal_fraction": 0.005,
        "teacher_endpoint": "http://teacher.local/v1"}})
    reply = "Sorry, I couldn't hear you.\nCould you repeat that, please?\nThe audio was unclear, try again."
    transport = httpx.MockTransport(lambda r: httpx.Response(
        200, json={"choices": [{"message": {"content": reply}}]}))
    m = build_stage_datasets(prof, _tokens_dir(tmp_path / "tokens"), tmp_path / "out",
                             teacher_transport=transport)
    budget = int(0.005 * (400 + 200))
    assert m.refusal_like_audible["kept"] == budget and m.refusal_like_audible["dropped"] > 0
    audible_refusals = 0
    for st in ("stage2", "stage3"):
        for r in read_stage_rows(tmp_path / "out" / st):
            if r.task == "inaudible":
                assert r.messages[-1].text in reply.splitlines()
                continue
            audible_refusals += sum(is_refusal(msg.text) for msg in r.messages if msg.role == "assistant")
    assert audible_refusals <= budget
    assert m.refusal_source == "teacher"
    assert json.loads((tmp_path / "out/manifest.json").read_text())["refusal_source"] == "teacher"


def _with_asr(path, n=40):
    rng = random.Random(1)
    rows = [{"id": f"a{i}", "split": "train", "kind": "asr", "text": f"asr sentence {i}", "answer": "",
             "voice": "source:mls:en", "seconds": 1.0, "skip": "", "audio_wav": b"",
             "codes": [rng.randrange(512) for _ in range(20)]} for i in range(n)]
    pq.write_table(pa.Table.from_pylist(rows, schema=TOKENS_SCHEMA), path / "part-00001.parquet")
    return path


def _transcripts(out):
    return [r.messages[-1].text for st in ("stage2", "stage3") for r in read_stage_rows(out / st)
            if r.task == "transcription"]


def test_transcription_rows_can_replay_the_spoken_prompts(tmp_path):
    tokens = _with_asr(_tokens_dir(tmp_path / "tokens"))
    for share, lo, hi in ((0.0, 0.0, 0.0), (0.5, 0.3, 0.7), (1.0, 1.0, 1.0)):
        prof = load_profile("local", overrides={"data": {
            "stage2_samples": 400, "stage3_samples": 200, "transcribe_spoken_prompts": share}})
        out = tmp_path / f"out{share}"
        build_stage_datasets(prof, tokens, out)
        texts = _transcripts(out)
        prompts = sum(t.startswith("question ") for t in texts) / len(texts)
        assert lo <= prompts <= hi, (share, prompts)
        assert all(t.startswith(("question ", "asr sentence ")) for t in texts)


def _with_sentences(path, texts):
    """eval-split "sentence" rows (the ASR test split), spoken by a held-out voice."""
    rows = [{"id": f"sent-{i}", "split": "eval", "kind": "sentence", "text": t, "answer": "",
             "voice": "en-029:s160:p50", "seconds": 1.0, "skip": "", "audio_wav": b"RIFF",
             "codes": [5] * 20} for i, t in enumerate(texts)]
    pq.write_table(pa.Table.from_pylist(rows, schema=TOKENS_SCHEMA), path / "part-00002.parquet")
    return path


def test_asr_test_split_is_written_and_never_repeats_a_training_transcript(tmp_path):
    prof = load_profile("local", overrides={"data": {"stage2_samples": 100, "stage3_samples": 50}})
    tokens = _with_sentences(_with_asr(_tokens_dir(tmp_path / "tokens")), ["a new sentence", "another one"])
    m = build_stage_datasets(prof, tokens, tmp_path / "out")
    items = read_eval_items(tmp_path / "out" / "eval" / EVAL_ASR_FILE)
    assert m.eval["asr"] == 2 and [(i.kind, i.text, i.family) for i in items] == [
        ("asr", "a new sentence", "caribbean"), ("asr", "another one", "caribbean")]
    leaky = _with_sentences(_with_asr(_tokens_dir(tmp_path / "leaky")), ["a new sentence", "asr sentence 3"])
    with pytest.raises(InputError, match="ASR test split repeats a training transcript.*asr sentence 3"):
        build_stage_datasets(prof, leaky, tmp_path / "out2")


def test_inaudible_sources_set_what_the_stage3_inaudible_rows_hold(tmp_path):
    tokens = _tokens_dir(tmp_path / "tokens")
    counts = {}
    for name, sources in (("default", None), ("random", {"random": 1.0})):
        data = {"stage2_samples": 200, "stage3_samples": 200}
        if sources:
            data["inaudible_sources"] = sources
        m = build_stage_datasets(load_profile("local", overrides={"data": data}), tokens, tmp_path / name)
        counts[name] = m.inaudible_sources
    assert set(counts["default"]) == {"random", "noise", "shuffled"} and counts["default"]["shuffled"] > 0
    assert counts["random"] == {"random": sum(counts["default"].values())}


def test_stage3_settings_leave_the_earlier_stage_dirs_byte_identical(tmp_path):
    """The training steps key on their own stage's dir: a stage-3 change must not retrain 1 and 2."""
    from ichigo.cache import input_key

    tokens = _tokens_dir(tmp_path / "tokens")
    keys = []
    for i, inaudible in enumerate((0.2, 0.1)):
        mix = {"two_turn": 0.75 - inaudible, "four_turn": 0.05, "inaudible": inaudible, "transcription": 0.1,
               "text": 0.1}
        prof = load_profile("local", overrides={"data": {"stage2_samples": 200, "stage3_samples": 200,
                                                         "stage3_mix": mix}})
        build_stage_datasets(prof, tokens, tmp_path / f"run{i}")
        keys.append({st: input_key(tmp_path / f"run{i}" / st) for st in ("stage1", "stage2", "stage3")})
    assert keys[0]["stage1"] == keys[1]["stage1"] and keys[0]["stage2"] == keys[1]["stage2"]
    assert keys[0]["stage3"] != keys[1]["stage3"]
