import numpy as np
import pytest

from ichigo.audio import wav_bytes
from ichigo.errors import InputError
from ichigo.eval.latency import first_token_latency, peak_memory_mb, pick_utterances
from ichigo.model.checkpoint import load_pretrained
from ichigo.speech_tokenizer import CodebookTokenizer


def tone(seconds: float) -> bytes:
    t = np.arange(int(seconds * 16000)) / 16000
    return wav_bytes((0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))


def test_only_1_to_5_second_utterances_are_timed():
    short, mid, long_ = tone(0.5), tone(2.0), tone(6.0)
    assert pick_utterances([short, mid, long_, b"", b"not a wav"]) == [mid]
    with pytest.raises(InputError, match="1-5 s"):
        pick_utterances([short, long_])


def test_first_token_latency_on_the_tiny_model(tiny_llm_dir, eval_set):
    lm = load_pretrained(tiny_llm_dir)
    tok = CodebookTokenizer.load(eval_set["tokenizer"])
    wavs = [it.audio_wav for it in eval_set["qa"]]
    res = first_token_latency(lm, tok, wavs, runs=4, warmup=1)
    assert res.n == 4 and len(res.samples_ms) == 4
    assert 0 < res.p50_ms <= res.p95_ms <= max(res.samples_ms) + 5e-4  # samples are rounded to 1 us
    assert peak_memory_mb("cpu") > 50  # this process holds torch and a model
