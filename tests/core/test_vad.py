"""Silero server VAD on real (espeak-ng) speech with silence around it."""

from __future__ import annotations

import numpy as np
import pytest

from ichigo.vad import SpeechStarted, SpeechStopped, StreamingVad, VadSettings
from tests.conftest import need_binary


def _events(v: StreamingVad, x: np.ndarray, chunk: int = 480) -> list:
    return [e for i in range(0, len(x), chunk) for e in v.feed(x[i:i + chunk])]


@pytest.fixture(scope="module")
def question() -> np.ndarray:
    need_binary("espeak-ng")
    from tests.serving.helpers import speech_wave

    return speech_wave("What is the capital of France?")


def test_two_utterances_give_two_turns_with_padding(question):
    sil = np.zeros(16000, np.float32)
    x = np.concatenate([sil, question, sil, question, sil])
    evs = _events(StreamingVad(VadSettings(prefix_padding_ms=300, silence_duration_ms=500)), x)
    assert [type(e) for e in evs] == [SpeechStarted, SpeechStopped] * 2
    q_ms = 1000 * len(question) / 16000
    # starts ~300 ms (prefix padding) before the speech at 1000 ms; ends near its last sound
    assert 500 <= evs[0].audio_start_ms <= 1000
    assert 1000 + q_ms - 400 <= evs[1].audio_end_ms <= 1000 + q_ms + 100
    assert len(evs[1].audio) >= len(question) * 0.8  # the turn's audio holds the question


def test_silence_and_noise_are_not_speech():
    rng = np.random.default_rng(0)
    assert _events(StreamingVad(VadSettings()), np.zeros(32000, np.float32)) == []
    assert _events(StreamingVad(VadSettings()), rng.normal(0, 0.03, 48000).astype(np.float32)) == []


def test_longer_silence_setting_joins_a_pause(question):
    pause = np.zeros(int(16000 * 0.6), np.float32)
    x = np.concatenate([np.zeros(8000, np.float32), question, pause, question, np.zeros(24000, np.float32)])
    short = _events(StreamingVad(VadSettings(silence_duration_ms=300)), x)
    long = _events(StreamingVad(VadSettings(silence_duration_ms=1000)), x)
    assert sum(isinstance(e, SpeechStopped) for e in short) == 2
    assert sum(isinstance(e, SpeechStopped) for e in long) == 1


def test_chunking_does_not_change_the_result(question):
    x = np.concatenate([np.zeros(8000, np.float32), question, np.zeros(16000, np.float32)])
    a = [(type(e), getattr(e, "audio_start_ms", None) or e.audio_end_ms) for e in _events(StreamingVad(VadSettings()), x, 160)]
    b = [(type(e), getattr(e, "audio_start_ms", None) or e.audio_end_ms) for e in _events(StreamingVad(VadSettings()), x, 7777)]
    assert a == b and len(a) == 2


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="threshold"):
        VadSettings(threshold=1.5)
    with pytest.raises(ValueError, match="silence_duration_ms"):
        VadSettings(silence_duration_ms=-1)
