"""WhisperVQ: the real RQBottleneckTransformer + Whisper encoder at small dims, random weights."""

import boto3
import numpy as np
import pytest
from moto import mock_aws

from ichigo.config import SpeechTokenizerConfig
from ichigo.errors import ConfigError
from ichigo.speech_tokenizer import load_speech_tokenizer
from ichigo.speech_tokenizer.whisper_vq import WhisperVQTokenizer, build_random_whisper_vq


@pytest.fixture(scope="module")
def tok():
    return build_random_whisper_vq(batch_size=4)


@pytest.fixture(scope="module")
def waves():
    rng = np.random.default_rng(0)
    return [(0.1 * rng.standard_normal(int(16000 * s))).astype(np.float32) for s in (1.0, 2.5, 0.6, 4.0, 3.3)]


def test_batched_equals_one_at_a_time_with_own_lengths(tok, waves):
    batched = tok.encode_batch(waves)
    assert [len(c) for c in batched] == [len(w) // 640 for w in waves]
    assert batched == [tok.encode(w) for w in waves]
    assert all(0 <= c <= 512 for cs in batched for c in cs)


@pytest.mark.slow
def test_long_audio_is_chunked_not_truncated(tok):
    w = (0.1 * np.random.default_rng(1).standard_normal(16000 * 65)).astype(np.float32)
    codes = tok.encode(w)
    assert len(codes) == 65 * 25  # the original stops at 750
    assert codes[:750] == tok.encode(w[: 30 * 16000])


@pytest.mark.slow
def test_save_load_and_s3(tok, waves, tmp_path, monkeypatch):
    path = tok.save(tmp_path / "vq.model")
    cfg = SpeechTokenizerConfig(backend="whisper_vq", checkpoint=str(path))
    back = load_speech_tokenizer(cfg, path)
    assert back.encode(waves[1]) == tok.encode(waves[1])
    with mock_aws():
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        monkeypatch.setenv("ICHIGO_CACHE_DIR", str(tmp_path / "cache"))
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="vqm")
        for f in (path, path.with_name("vq.whisper.pt")):
            s3.upload_file(str(f), "vqm", f"vq/{f.name}")
        remote = WhisperVQTokenizer.load("s3://vqm/vq/vq.model")
        assert remote.encode(waves[2]) == tok.encode(waves[2])


def test_bad_checkpoint(tmp_path):
    (tmp_path / "x.model").write_bytes(b"not torch")
    with pytest.raises(ConfigError, match="not a WhisperVQ checkpoint"):
        WhisperVQTokenizer.load(tmp_path / "x.model")
