"""The ASR round-trip gate: WER, and drops that are counted, never silent."""

import json
import random

import numpy as np
import pyarrow.parquet as pq

from ichigo.files import shard_paths
import pytest

import ichigo.data.speech_corpus as sc
import ichigo.data.world_datasets as wd
from ichigo.config import load_profile
from ichigo.data.asr_gate import AsrGate, Transcriber, gate_wer
from ichigo.errors import ConfigError, InputError
from ichigo.tts import EspeakTTS
from ichigo.tts.base import TransientTTSError
from tests.conftest import need, need_binary


def test_wer_treats_spelled_and_digit_numbers_alike():
    assert gate_wer("What is 7 plus 3?", "what is seven plus three") == 0.0
    assert gate_wer("the sky is blue", "the fly is glue") == 0.5
    assert gate_wer("the sky is blue", "") == 1.0
    assert gate_wer("", "") == 0.0


class HearsWhatWasSaid:
    """A fake Whisper that 'hears' what the TTS really spoke: clips are looked up by content, up to
    the 16-bit rounding of a FLAC round trip (the world's MLS clips are read back from files)."""

    def __init__(self):
        self.spoken: dict[int, list[tuple[np.ndarray, str]]] = {}
        self.calls = 0

    def remember(self, wave: np.ndarray, text: str) -> None:
        w = np.asarray(wave, np.float32)
        self.spoken.setdefault(len(w), []).append((w, text))

    def _heard(self, wave) -> str:
        w = np.asarray(wave, np.float32)
        return next((t for said, t in self.spoken.get(len(w), []) if np.abs(said - w).max() < 1e-3), "")

    def transcribe_batch(self, waves):
        self.calls += 1
        return [self._heard(w) for w in waves]


class MumblingVoiceTTS:
    """espeak-ng, except that `broken` voices say something else than their text."""

    sample_rate = 16000

    def __init__(self, ears: HearsWhatWasSaid, broken: str):
        self.espeak, self.ears, self.broken = EspeakTTS(), ears, broken

    def synthesize(self, texts, voice):
        said = ["banana banana banana" if voice.startswith(self.broken) else t for t in texts]
        waves = self.espeak.synthesize(said, voice)
        for w, s in zip(waves, said):
            self.ears.remember(w, s)
        return waves


def test_gate_checks_batches_and_flags_the_mismatch():
    ears = HearsWhatWasSaid()
    assert isinstance(ears, Transcriber)
    good, bad = np.ones(10, np.float32), np.zeros(10, np.float32)
    ears.remember(good, "what is the capital of japan")
    ears.remember(bad, "banana")
    gate = AsrGate(ears, max_wer=0.35, batch_size=1)
    v = gate.check(["What is the capital of Japan?", "What is the capital of Japan?"], [good, bad])
    assert [x.passed for x in v] == [True, False] and ears.calls == 2
    assert v[1].error == "asr_gate: wer=1.00 heard='banana'"
    with pytest.raises(ConfigError, match="not a transcriber"):
        AsrGate(object(), 0.3)


def _profile(**data):
    return load_profile("smoke", overrides={
        "tts": {"train_voices": ["en-us+m1", "en-gb+f2"], "workers": 1,
                "heldout_families": {"caribbean": ["en-029"], "scottish": ["en-gb-scotland"],
                                     "new_york": ["en-us-nyc"], "unseen_variants": ["en-us+m2"]},
                "augment": {"enabled": True, "p_telephone": 1.0}},
        "data": {"num_train_questions": 8, "num_eval_questions": 6, "stage1_utterances": 6,
                 "asr_gate": True, "asr_gate_max_wer": 0.35, "asr_gate_world_corpus": True, **data}})


def use_tts(monkeypatch, tts):
    """The corpus workers speak with `tts` (in-process: workers=1)."""
    monkeypatch.setattr(sc, "_tts", lambda _profile: tts)
    return tts


@pytest.fixture
def fresh_worker(monkeypatch):
    """The corpus worker's per-process TTS and gate, replaced for one test."""
    monkeypatch.setattr(sc, "_GATE", None)
    monkeypatch.setattr(sc, "TTS_BACKOFF_SECONDS", 0.0)


def test_corpus_drops_and_counts_clips_the_asr_does_not_hear(tmp_path, monkeypatch, fresh_worker):
    need_binary("espeak-ng")
    need_binary("sox")
    p = _profile()
    ears = HearsWhatWasSaid()
    tts = use_tts(monkeypatch, MumblingVoiceTTS(ears, broken="en-gb+f2"))
    monkeypatch.setattr("ichigo.tts.process_tts", lambda _cfg: tts)  # the world's MLS clips too
    monkeypatch.setattr(sc, "_GATE", AsrGate(ears, p.data.asr_gate_max_wer))
    m = sc.build_speech_corpus(p, tmp_path, workers=1, shard_utterances=10, progress=False)
    rows = [r for p in shard_paths(tmp_path) for r in pq.read_table(p).to_pylist()]
    assert len(rows) == m.num_utterances  # no id lost
    # the world's ASR corpus is synthesized too: read back from its MLS files, gated the same way
    mumbled = {f"world_asr/{utt}" for utt, _, _, voice in wd._asr_corpus(p, random.Random(p.data.seed))
               if voice.startswith("en-gb+f2")}
    world = [r for r in rows if r["kind"] == "asr"]
    assert 0 < len(mumbled) < len(world) and all(r["gated"] for r in world)
    for r in world:
        assert (r["error"] == "asr_gate: wer=1.00 heard='banana banana banana'") == (r["id"] in mumbled)
    assert next(s for s in m.sources if s["name"] == "world_asr") == {
        "name": "world_asr", "kind": "asr", "used": len(world) - len(mumbled), "skipped": {"asr_gate": len(mumbled)}}
    broken = [r for r in rows if r["voice"].startswith("en-gb+f2")]
    # spoken questions and the ASR test split's sentences (held-out voices) both pass the gate
    fine = [r for r in rows if r["kind"] in ("question", "sentence") and not r["voice"].startswith("en-gb+f2")]
    assert broken and fine and sum(r["kind"] == "sentence" for r in fine) == p.data.num_eval_sentences
    for r in broken:
        assert r["error"] == "asr_gate: wer=1.00 heard='banana banana banana'" and r["audio_wav"] == b""
        assert r["family"] == "en-gb"
    assert all(not r["error"] and r["audio_wav"] for r in fine)
    noise = [r for r in rows if r["kind"] == "noise"]
    assert noise and all(not r["error"] and r["audio_wav"] and r["family"] == "" for r in noise)
    # families: held-out names on eval rows, derived ones on train rows
    assert {r["family"] for r in rows if r["split"] == "eval" and r["kind"] != "noise"} <= \
        set(p.tts.heldout_families)
    assert {"caribbean", "scottish", "new_york", "unseen_variants"} <= set(p.tts.heldout_families)
    # augmentation: train speech only, and after the gate (the gate heard the clean render)
    assert all("telephone" in r["augment"] for r in fine if r["split"] == "train")
    assert all(r["augment"] == "" for r in rows if r["split"] == "eval" or r["kind"] == "noise")
    g = m.asr_gate
    assert g["dropped"] == len(broken) + len(mumbled) and g["checked"] == len(broken) + len(fine) + len(world)
    assert g["dropped_by_voice"] == {"en-gb+f2": len(broken), "source:world_asr:en": len(mumbled)}
    assert g["dropped_by_family"] == {"en-gb": len(broken), "(source audio)": len(mumbled)}
    assert m.failed == {"asr_gate": len(broken) + len(mumbled)}
    assert not any(r["gated"] for r in noise)
    assert m.augmented["telephone"] == sum(r["split"] == "train" for r in fine)
    assert json.loads((tmp_path / "manifest.json").read_text())["asr_gate"]["dropped"] == g["dropped"]
    card = (tmp_path / "DATASET_CARD.md").read_text()
    assert "## ASR gate: dropped clips per voice" in card and f"| en-gb+f2 | {len(broken)} |" in card
    assert "## Held-out voice families (never trained on)" in card and "| caribbean | en-029 |" in card


class FlakyTTS:
    sample_rate = 16000

    def __init__(self, failures: int, permanent_text: str | None = None):
        self.espeak, self.failures, self.calls, self.permanent = EspeakTTS(), failures, 0, permanent_text

    def synthesize(self, texts, voice):
        self.calls += 1
        if self.failures:
            self.failures -= 1
            raise TransientTTSError("espeak-ng timed out after 30.0s")
        if self.permanent and any(self.permanent in t for t in texts):
            raise InputError("espeak-ng failed: unspeakable")
        return self.espeak.synthesize(texts, voice)


def test_transient_tts_errors_are_retried_not_recorded(tmp_path, monkeypatch, fresh_worker):
    need_binary("espeak-ng")
    p = _profile(asr_gate=False)
    flaky = use_tts(monkeypatch, FlakyTTS(failures=2))
    m = sc.build_speech_corpus(p, tmp_path, workers=1, shard_utterances=100, progress=False)
    assert m.failed == {}
    assert flaky.calls > 2


def test_a_lasting_transient_error_fails_the_shard_and_a_rerun_resumes(tmp_path, monkeypatch, fresh_worker):
    need_binary("espeak-ng")
    p = _profile(asr_gate=False)
    use_tts(monkeypatch, FlakyTTS(failures=10 ** 6))
    with pytest.raises(RuntimeError, match="kept failing transiently.*rerun the step to resume"):
        sc.build_speech_corpus(p, tmp_path, workers=1, shard_utterances=100, progress=False)
    assert not list(tmp_path.glob("part-*.parquet"))  # nothing recorded as a permanent failure
    use_tts(monkeypatch, FlakyTTS(failures=0))
    m = sc.build_speech_corpus(p, tmp_path, workers=1, shard_utterances=100, progress=False)
    assert m.failed == {} and m.num_shards == len(list(tmp_path.glob("part-*.parquet")))


def test_permanent_tts_errors_are_recorded_per_row(tmp_path, monkeypatch, fresh_worker):
    need_binary("espeak-ng")
    p = _profile(asr_gate=False)
    # every spoken question ends with "?", the noise rows have no text: some rows fail, not all
    use_tts(monkeypatch, FlakyTTS(failures=0, permanent_text="?"))
    m = sc.build_speech_corpus(p, tmp_path, workers=1, shard_utterances=100, progress=False)
    rows = [r for p in shard_paths(tmp_path) for r in pq.read_table(p).to_pylist()]
    # (the world's ASR clips come as audio files in the MLS layout: never spoken by this TTS)
    bad = [r for r in rows if "?" in r["text"] and r["kind"] in ("question", "sentence")]
    assert bad and len(bad) < len(rows) and all(r["error"].startswith("tts_failed: espeak-ng failed: unspeakable") for r in bad)
    assert m.failed == {"tts_failed": len(bad)}


def test_gate_without_the_whisper_module_says_how_to_turn_it_off(monkeypatch):
    import builtins
    real_import = builtins.__import__

    def no_whisper(name, *a, **k):
        if name == "ichigo.speech_tokenizer.whisper_asr":
            raise ImportError("No module named 'ichigo.speech_tokenizer.whisper_asr'")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_whisper)
    from ichigo.data.asr_gate import load_transcriber
    with pytest.raises(ConfigError, match="data.asr_gate: false"):
        load_transcriber("tiny.en")


@pytest.mark.slow
def test_real_whisper_drops_a_clip_that_says_something_else():
    need_binary("espeak-ng")
    try:
        from ichigo.speech_tokenizer.whisper_asr import WhisperASR  # noqa: F401 (present?)
    except ImportError:
        need(False, "ichigo.speech_tokenizer.whisper_asr is not in this checkout yet")
    import torch
    torch.set_num_threads(1)
    from ichigo.data.asr_gate import load_transcriber
    gate = AsrGate(load_transcriber("tiny.en", 10.0), max_wer=0.35)
    tts = EspeakTTS()
    right, wrong = tts.synthesize(["what is the capital of japan", "banana bread on a sunday"], "en-us+m1")
    v = gate.check(["What is the capital of Japan?"] * 2, [right, wrong])
    assert v[0].passed and not v[1].passed and v[1].error.startswith("asr_gate: wer=")


def test_the_world_corpus_is_gated_as_the_profile_says(tmp_path):
    need_binary("espeak-ng")
    for on in (True, False):
        specs = wd.write_world_datasets(_profile(asr_gate_world_corpus=on), tmp_path / str(on))
        assert next(s for s in specs if s.name == "world_asr").asr_gate is on
    assert load_profile("local").data.asr_gate_world_corpus is False  # the budget: see local.yaml
