"""WhisperASR (torch, converted weights) transcribes exactly as faster-whisper on the same model."""

import numpy as np
import pytest

from ichigo.errors import ConfigError
from ichigo.speech_tokenizer.whisper_asr import WhisperASR
from ichigo.speech_tokenizer.whisper_weights import locate_weights
from ichigo.tts import EspeakTTS
from tests.conftest import need, need_binary

TEXTS = ["what is the capital of japan", "how many legs does a spider have"]


@pytest.fixture(scope="module")
def model_dir():
    try:
        return locate_weights("tiny.en").model_dir
    except ConfigError as e:
        need(False, str(e))


@pytest.fixture(scope="module")
def clips():
    need_binary("espeak-ng")
    return EspeakTTS().synthesize(TEXTS, "en-us+m1")


@pytest.fixture(scope="module")
def asr(model_dir):
    return WhisperASR.load("tiny.en", batch_size=4)


def _reference(model_dir, waves) -> list[str]:
    from faster_whisper import WhisperModel

    fw = WhisperModel(str(model_dir), device="cpu", compute_type="float32", cpu_threads=1)
    out = []
    for w in waves:
        segments, _ = fw.transcribe(w, language="en", beam_size=1, temperature=0.0, without_timestamps=True,
                                    condition_on_previous_text=False, vad_filter=False)
        out.append("".join(s.text for s in segments).strip())
    return out


@pytest.mark.slow
def test_transcribes_exactly_as_faster_whisper(asr, clips, model_dir):
    ours = asr.transcribe_batch(clips)
    assert ours == _reference(model_dir, clips)
    assert ours[0].lower().strip("?.!") == "what is the capital of japan"  # and it is real English


@pytest.mark.slow
def test_batched_equals_one_at_a_time(asr, clips):
    assert asr.transcribe_batch(clips) == [asr.transcribe(c) for c in clips]


@pytest.mark.slow
def test_short_window_still_transcribes(model_dir, clips):
    short = WhisperASR.load("tiny.en", window_seconds=5)
    assert short.model.dims.n_audio_ctx == 250
    assert short.transcribe(clips[0]).lower().strip("?.!") == "what is the capital of japan"
    long = np.concatenate([clips[0], np.zeros(16000 * 2, np.float32), clips[1]])  # > 5 s: windowed
    assert len(long) > 5 * 16000 and "spider" in short.transcribe(long).lower()


@pytest.mark.slow
def test_bf16_encoder_hears_the_same_words(asr, clips):
    """The ASR gate's mode: encoder under bf16 autocast, fp32 states into Whisper's own decoder."""
    fast = WhisperASR(asr.model, window_seconds=10, bf16_encoder=True)
    assert fast.bf16_encoder and not asr.bf16_encoder  # fp32 unless asked
    norm = [" ".join(t.lower().strip("?.!").split()) for t in fast.transcribe_batch(clips)]
    assert norm == [" ".join(t.lower().strip("?.!").split()) for t in asr.transcribe_batch(clips)]


def test_gate_transcriber_uses_bf16_only_where_the_cpu_has_it(monkeypatch, model_dir):
    import ichigo.precision
    from ichigo.data.asr_gate import load_transcriber
    for native in (True, False):
        monkeypatch.setattr(ichigo.precision, "cpu_supports_bf16", lambda: native)
        assert load_transcriber("tiny.en", 10.0).bf16_encoder is native


def test_bad_input(asr):
    from ichigo.audio import AudioError
    with pytest.raises(AudioError):
        asr.transcribe_batch([np.zeros(0, np.float32)])
    assert asr.transcribe_batch([]) == []
    with pytest.raises(ValueError, match="window_seconds"):
        WhisperASR(asr.model, window_seconds=0.5)
