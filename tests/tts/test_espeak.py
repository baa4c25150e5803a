import subprocess

import numpy as np
import pytest

from ichigo.audio import read_audio
from ichigo.config import load_profile
from ichigo.errors import InputError
from ichigo.tts import EspeakTTS, TTSBackend, VoiceSpec, make_tts
from tests.conftest import need_binary


@pytest.fixture(scope="module")
def tts():
    need_binary("espeak-ng")
    return EspeakTTS()


def test_is_a_backend_and_16k(tts):
    assert isinstance(tts, TTSBackend) and tts.sample_rate == 16000
    waves = tts.synthesize(["what is the capital of france", "hello"], "en-us+f3:s160:p50")
    assert len(waves) == 2 and all(w.dtype == np.float32 for w in waves)
    assert len(waves[0]) > len(waves[1])


def test_resampled_duration_matches_espeak_native(tts):
    text = "the sky is blue"
    raw = subprocess.run(["espeak-ng", "-v", "en-us", "-s", "160", "-p", "50", "--stdout", text],
                         capture_output=True, check=True).stdout
    native, sr = read_audio(raw)
    assert sr == 22050
    [w] = tts.synthesize([text], "en-us:s160:p50")
    assert abs(len(w) / 16000 - len(native) / sr) < 0.002


def test_speed_and_pitch_change_the_audio(tts):
    slow, fast = (tts.synthesize(["one two three four"], f"en-us+m3:s{s}:p50")[0] for s in (120, 240))
    assert len(slow) > 1.5 * len(fast)
    lo, hi = (tts.synthesize(["one two three"], f"en-us+m3:s160:p{p}")[0] for p in (10, 90))
    assert not np.array_equal(lo, hi)


def test_bad_inputs(tts):
    with pytest.raises(InputError, match="empty"):
        tts.synthesize(["ok", "  "], "en-us")
    with pytest.raises(InputError, match="list of texts"):
        tts.synthesize("hello", "en-us")
    with pytest.raises(InputError, match="bad voice"):
        VoiceSpec.parse("en us; rm -rf")
    with pytest.raises(InputError, match="speed"):
        VoiceSpec.parse("en-us:s5")
    assert str(VoiceSpec.parse("en-gb-x-rp+m1:s140:p35")) == "en-gb-x-rp+m1:s140:p35"


def test_make_tts_from_profile():
    need_binary("espeak-ng")
    tts = make_tts(load_profile("local").tts)  # espeak-ng voices plus piper:joe: a mixed pool
    assert isinstance(tts.backend_for("en-us+f3:s160:p50"), EspeakTTS)
