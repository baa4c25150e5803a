import json
from collections import Counter

import pyarrow.parquet as pq
import pytest
from scipy.stats import ks_2samp

from ichigo.chat_template import Sound, render_chat
from ichigo.data.cards import dataset_card_path
from ichigo.data.corpus_plan import noise_counts
from ichigo.data.speech_corpus import build_speech_corpus
from ichigo.data.stages import split_counts
from ichigo.prompts import TRANSCRIBE_PROMPTS
from ichigo.files import shard_paths
from ichigo.records import EVAL_ASR_FILE, read_eval_items, read_stage_rows
from ichigo.sound_tokens import sound_spans
from ichigo.speech_tokenizer import load_speech_tokenizer
from ichigo.tts import VoiceSpec

pytestmark = pytest.mark.slow  # the shared fixture synthesises ~200 utterances (~10 s)


def test_corpus_counts_voices_and_audio(built, small_profile):
    c = built["corpus"]
    d = small_profile.data
    n_tn, n_en = noise_counts(small_profile)
    counts = dict(c.counts)
    assert counts.pop("train/turn", 0) >= 0  # dialogue user turns not already spoken as prompts
    assert counts == {"train/question": d.num_train_questions, "train/asr": d.stage1_utterances,
                      "eval/question": d.num_eval_questions, "eval/sentence": d.num_eval_sentences,
                      "train/noise": n_tn, "eval/noise": n_en}
    # the embedded world is read back through the MLS / Alpaca / messages adapters
    assert {(s["name"], s["kind"]) for s in c.sources} == {
        ("world_asr", "asr"), ("world_instruct", "instruct"), ("world_eval", "instruct"),
        ("world_typed", "text"), ("world_dialogues", "dialogue")}
    assert all(s["used"] > 0 and not s["skipped"] for s in c.sources)
    assert (built["root"] / "corpus/world/mls/train/transcripts.txt").is_file()
    rows = [r for p in shard_paths(built["root"] / "corpus") for r in pq.read_table(p).to_pylist()]
    assert len({r["id"] for r in rows}) == len(rows) == c.num_utterances
    train_voices = {VoiceSpec.parse(r["voice"]).base for r in rows
                    if r["split"] == "train" and r["kind"] not in ("noise", "asr")}
    eval_voices = {VoiceSpec.parse(r["voice"]).base for r in rows if r["split"] == "eval" and r["kind"] != "noise"}
    assert train_voices <= set(small_profile.tts.train_voices)
    assert eval_voices <= set(small_profile.tts.heldout_voices) and not (train_voices & eval_voices)
    # every row names its voice family; eval rows only the profile's held-out families
    assert {r["family"] for r in rows if r["split"] == "eval" and r["kind"] in ("question", "sentence")} <= \
        set(small_profile.tts.heldout_families)
    assert {r["family"] for r in rows if r["kind"] == "noise"} == {""}
    assert len({r["voice"] for r in rows if r["kind"] == "question"}) > 10  # speed/pitch vary
    assert all(r["seconds"] > 0.3 and r["error"] == "" for r in rows)
    noise = [r for r in rows if r["kind"] == "noise"]
    assert {r["voice"].split(":")[1] for r in noise} == {"white", "pink", "hum", "near_silence"}
    assert all(1.0 <= r["seconds"] <= 5.0 for r in noise)
    assert json.loads((built["root"] / "corpus/manifest.json").read_text())["num_utterances"] == c.num_utterances
    assert dataset_card_path(built["root"] / "corpus").is_file()


def test_rerun_is_idempotent(built, small_profile):
    before = {p.name: p.stat().st_mtime_ns for p in shard_paths(built["root"] / "corpus")}
    again = build_speech_corpus(small_profile, built["root"] / "corpus", shard_utterances=25, progress=False)
    assert again.resumed_shards == again.num_shards
    assert {p.name: p.stat().st_mtime_ns for p in shard_paths(built["root"] / "corpus")} == before


def test_tokens_are_25_per_second(built, small_profile):
    t = built["tokens"]
    assert t.num_tokenized == t.num_rows == built["corpus"].num_utterances and not t.skipped
    tok = load_speech_tokenizer(small_profile.speech_tokenizer, built["tok_path"])
    for p in shard_paths(built["root"] / "tokens")[:1]:
        for r in pq.read_table(p).to_pylist():
            assert len(r["codes"]) == max(1, int(round(r["seconds"] * 16000)) // 640)
            assert all(0 <= c < 64 for c in r["codes"])
    assert tok.meta.fit_seconds <= small_profile.speech_tokenizer.fit_seconds + 5


def test_tokenizing_in_worker_processes_gives_the_same_codes(built, small_profile, tmp_path):
    from ichigo.data.tokenize import tokenize_corpus

    prof = small_profile.model_copy(update={"speech_tokenizer": small_profile.speech_tokenizer.model_copy(
        update={"workers": 2})})
    m = tokenize_corpus(prof, built["root"] / "corpus", built["tok_path"], tmp_path, progress=False)
    assert m.num_tokenized == built["tokens"].num_tokenized

    def codes(d):
        return {r["id"]: r["codes"] for p in shard_paths(d) for r in pq.read_table(p).to_pylist()}
    assert len(shard_paths(tmp_path)) > 1 and codes(tmp_path) == codes(built["root"] / "tokens")


def test_stage_mixes_follow_the_profile(built, small_profile):
    d = small_profile.data
    st = built["stages"].stages
    assert st["stage2"].counts == split_counts(d.stage2_samples, d.stage2_mix)
    assert st["stage3"].counts == split_counts(d.stage3_samples, d.stage3_mix)
    assert st["stage1"].counts == {"sound_only": d.stage1_utterances}
    for name in ("stage1", "stage2", "stage3"):
        m = json.loads((built["root"] / "stages" / name / "manifest.json").read_text())
        assert m["rows"] == sum(m["counts"].values()) and m["audio_hours"] > 0
        assert sum(m["histogram"]["counts"]) == m["rows"]
        assert dataset_card_path(built["root"] / "stages" / name).read_text().startswith("# Ichigo")
    assert (built["root"] / "stages/token_lengths.png").read_bytes()[:4] == b"\x89PNG"


def test_rows_use_the_chat_template(built):
    rows = list(read_stage_rows(built["root"] / "stages/stage2"))
    by_task = Counter(r.task for r in rows)
    assert set(by_task) == {"speech_qa", "transcription", "text"}
    prompts = set()
    for r in rows:
        assert r.messages[0].role == "user" and r.messages[-1].role == "assistant"
        text = render_chat(r.messages)
        if r.task == "text":
            assert not sound_spans(text)
        else:
            assert len(sound_spans(text)) == 1
        if r.task == "transcription":
            prompts.add(r.messages[0].parts[0].strip())
    assert prompts <= set(TRANSCRIBE_PROMPTS) and len(prompts) >= 6
    s1 = list(read_stage_rows(built["root"] / "stages/stage1"))
    assert all(r.codes and r.messages is None for r in s1)


def test_stage3_turns_and_refusals(built):
    rows = list(read_stage_rows(built["root"] / "stages/stage3"))
    for r in rows:
        users = [m for m in r.messages if m.role == "user"]
        assert all(any(isinstance(p, Sound) for p in m.parts) for m in users)
        if r.task == "two_turn":
            assert len(users) == 2
        if r.task == "four_turn":
            assert len(users) == 4
    inaud = [r for r in rows if r.task == "inaudible"]
    answers = {r.messages[-1].text for r in inaud}
    assert len(answers) >= 8  # varied refusals
    replay = [r for r in rows if r.task == "transcription"]  # ASR replay against forgetting
    assert len(replay) == 40 and all(r.messages[0].parts[0].strip() in TRANSCRIBE_PROMPTS for r in replay)
    assert all(len(r.messages) == 2 and r.messages[1].text for r in replay)
    assert any(len(r.messages) == 4 for r in inaud) and any(len(r.messages) == 2 for r in inaud)
    assert built["stages"].refusal_source == "offline"


def test_inaudible_lengths_follow_audible_query_lengths(built):
    """Two-sample KS: random-code inaudible queries vs the audible stage-2 queries."""
    s2 = list(read_stage_rows(built["root"] / "stages/stage2"))
    audible = [len(r.messages[0].parts[-1].codes) for r in s2 if r.task in ("speech_qa", "transcription")]
    s3 = list(read_stage_rows(built["root"] / "stages/stage3"))
    # random-code rows are the ones whose codes include values never produced by the 64-code tokenizer
    rand = [len(r.messages[-2].parts[-1].codes) for r in s3 if r.task == "inaudible"
            and max(r.messages[-2].parts[-1].codes) >= 64]
    assert len(rand) >= 60
    assert ks_2samp(rand, audible).pvalue > 0.01
    # and the test has power: a clearly different distribution is rejected
    assert ks_2samp([x * 2 for x in rand], audible).pvalue < 0.01


def test_eval_sets_are_heldout_and_keep_audio(built, small_profile):
    qa = read_eval_items(built["root"] / "stages/eval/qa.parquet")
    noise = read_eval_items(built["root"] / "stages/eval/noise.parquet")
    assert len(qa) == small_profile.data.num_eval_questions and len(noise) == noise_counts(small_profile)[1]
    assert all(i.voice.split(":")[0] in small_profile.tts.heldout_voices for i in qa)
    assert {i.family for i in qa} <= set(small_profile.tts.heldout_families)  # eval reports per family
    assert all(i.audio_wav[:4] == b"RIFF" and i.codes and i.answer for i in qa)
    # the ASR test split: held-out voices and families, sentences no training row speaks
    asr = read_eval_items(built["root"] / "stages/eval" / EVAL_ASR_FILE)
    assert len(asr) == small_profile.data.num_eval_sentences and {i.kind for i in asr} == {"asr"}
    assert all(i.voice.split(":")[0] in small_profile.tts.heldout_voices and i.codes and i.text for i in asr)
    assert {i.family for i in asr} <= set(small_profile.tts.heldout_families)
    train_texts = {r["text"] for p in shard_paths(built["root"] / "tokens")
                   for r in pq.read_table(p, columns=["split", "text"]).to_pylist() if r["split"] == "train"}
    assert train_texts and not {i.text for i in asr} & train_texts


def test_stage3_multi_turn_rows_come_from_one_conversation_each(built):
    """Every user turn of a two/four-turn row is the audio of that conversation's own user turn,
    and the assistant turns are that conversation's answers."""
    texts_by_codes: dict[tuple, set] = {}
    for p in shard_paths(built["root"] / "tokens"):
        for r in pq.read_table(p).to_pylist():
            if r["codes"] is not None and r["kind"] in ("question", "turn"):
                texts_by_codes.setdefault(tuple(r["codes"]), set()).add(r["text"])
    convs = json.loads((built["root"] / "tokens/conversations.json").read_text())
    by_answers: dict[tuple, list] = {}
    for c in convs:
        by_answers.setdefault(tuple(m["content"] for m in c["messages"] if m["role"] == "assistant"), []).append(c)
    rows = [r for r in read_stage_rows(built["root"] / "stages/stage3") if r.task in ("two_turn", "four_turn")]
    assert rows
    for r in rows:
        answers = tuple(m.text for m in r.messages if m.role == "assistant")
        heard = [texts_by_codes[tuple(m.parts[-1].codes)] for m in r.messages if m.role == "user"]
        matches = [c for c in by_answers.get(answers, []) if all(
            u["content"] in h for u, h in zip([m for m in c["messages"] if m["role"] == "user"], heard))]
        assert matches, f"{r.id} is not one conversation"
