import numpy as np
import pytest

from ichigo.config import SpeechTokenizerConfig
from ichigo.errors import ConfigError, InputError
from ichigo.speech_tokenizer import CodebookTokenizer, SpeechTokenizer, fit_codebook, load_speech_tokenizer
from ichigo.tts import EspeakTTS
from tests.conftest import need_binary

CFG = SpeechTokenizerConfig(codebook_size=64, n_mels=40, fit_seconds=60, max_chunk_seconds=4.0)


@pytest.fixture(scope="module")
def waves():
    need_binary("espeak-ng")
    tts = EspeakTTS()
    texts = [f"what is {a} plus {b}" for a in ("one", "two", "three") for b in ("four", "five", "six")]
    return tts.synthesize(texts, "en-us+m1") + tts.synthesize(texts, "en-gb+f2")


@pytest.fixture(scope="module")
def tok(waves):
    return fit_codebook(waves, CFG, progress=False)


def test_contract(tok, waves):
    assert isinstance(tok, SpeechTokenizer)
    codes = tok.encode(waves[0])
    assert len(codes) == len(waves[0]) // 640  # 25 tokens per second
    assert all(0 <= c < 64 for c in codes)
    assert len({c for w in waves for c in tok.encode(w)}) > 32  # the codebook is actually used


def test_fit_is_deterministic_and_seed_dependent(tok, waves):
    again = fit_codebook(waves, CFG, progress=False)
    assert np.array_equal(again.centres, tok.centres)
    other = fit_codebook(waves, CFG.model_copy(update={"seed": 1}), progress=False)
    assert not np.array_equal(other.centres, tok.centres)


def test_batch_equals_single_and_long_audio_is_chunked(tok, waves):
    assert tok.encode_batch(waves[:5]) == [tok.encode(w) for w in waves[:5]]
    long = np.concatenate(waves[:6])  # > max_chunk_seconds: chunked, not truncated
    assert len(long) / 16000 > CFG.max_chunk_seconds
    codes = tok.encode(long)
    assert abs(len(codes) - len(long) / 640) <= 6  # at most one token lost per chunk edge


def test_save_load_roundtrip(tok, waves, tmp_path):
    p = tok.save(tmp_path / "cb.npz")
    back = load_speech_tokenizer(CFG, p)
    assert isinstance(back, CodebookTokenizer) and back.encode(waves[3]) == tok.encode(waves[3])
    (tmp_path / "bad.npz").write_bytes(b"nope")
    with pytest.raises(ConfigError):
        CodebookTokenizer.load(tmp_path / "bad.npz")
    with pytest.raises(ConfigError, match="does not exist"):
        CodebookTokenizer.load(tmp_path / "missing.npz")


def test_bad_inputs(tok):
    with pytest.raises(InputError):
        tok.encode(np.zeros(0, np.float32))
    with pytest.raises(InputError, match="at least 64 frames"):
        fit_codebook([np.random.default_rng(0).standard_normal(8000).astype(np.float32)], CFG, progress=False)
