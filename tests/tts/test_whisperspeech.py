"""WhisperSpeech adapter: everything that runs without its (hub-only) weights."""

import sys

import boto3
import pytest
import torch
from moto import mock_aws

from ichigo.config import load_profile
from ichigo.errors import ConfigError
from ichigo.tts import make_tts
from ichigo.tts.compat import import_whisperspeech, install_shims
from ichigo.tts.whisperspeech import REQUIRED, resolve_model_cache


def test_whisperspeech_imports_on_pinned_torch():
    installed = install_shims()
    vq = import_whisperspeech("vq_stoks")
    pipe = import_whisperspeech("pipeline")
    assert hasattr(vq, "RQBottleneckTransformer") and pipe.Pipeline.default_speaker.shape == (192,)
    assert "torchaudio" in sys.modules and "torio" in sys.modules
    assert isinstance(installed, list)


def test_shim_resample_and_mel_are_correct():
    install_shims()
    import torchaudio
    t = torch.arange(24000) / 24000
    x = torch.sin(2 * torch.pi * 1000 * t)[None]
    y = torchaudio.functional.resample(x, 24000, 16000)
    assert y.shape[-1] == 16000
    spec = torch.fft.rfft(y[0])
    assert abs(float(spec.abs().argmax()) - 1000) <= 1
    mel = torchaudio.transforms.MelSpectrogram(sample_rate=16000, n_fft=400, hop_length=160, n_mels=40)(y)
    assert mel.shape == (1, 40, 101)
    fb = torchaudio.functional.melscale_fbanks(201, 0.0, 8000.0, 40, 16000)
    assert fb.shape == (201, 40) and torch.all(fb >= 0) and torch.all(fb.sum(0) > 0)
    band = int(mel[0].mean(-1).argmax())
    centre_hz = float(torchaudio.functional.functional._mel_to_hz(
        torch.linspace(0, torchaudio.functional.functional._hz_to_mel(8000.0), 42)[band + 1]))
    assert 700 < centre_hz < 1400  # the 1 kHz tone lands in the band around 1 kHz


def test_missing_cache_and_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="model_cache is required"):
        resolve_model_cache(None)
    (tmp_path / "t2s.model").write_bytes(b"x")
    with pytest.raises(ConfigError, match="lacks s2a.model"):
        resolve_model_cache(str(tmp_path))
    prof = load_profile("h100", overrides={"tts": {"model_cache": str(tmp_path / "nope")}})
    with pytest.raises(ConfigError, match="does not exist"):
        make_tts(prof.tts)


@mock_aws
def test_model_cache_from_s3(tmp_path, monkeypatch):
    monkeypatch.setenv("ICHIGO_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="models")
    for f in REQUIRED:
        s3.put_object(Bucket="models", Key=f"whisperspeech/{f}", Body=f.encode())
    root = resolve_model_cache("s3://models/whisperspeech")
    assert all((root / f).read_bytes() == f.encode() for f in REQUIRED)
