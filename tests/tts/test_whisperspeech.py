"""WhisperSpeech adapter: shims, model cache, and real synthesis with tiny random-weight models."""

import sys
from pathlib import Path

import boto3
import numpy as np
import pytest
import torch
from moto import mock_aws

from ichigo.config import load_profile
from ichigo.errors import ConfigError, InputError
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
    # its training modules set "medium" (bf16 fp32-matmuls on CPUs that have bf16) at import
    assert torch.get_float32_matmul_precision() == "highest"


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


# ---- end to end with whisperspeech's own T2S / S2A and Vocos at small size, random weights ----

TEXTS = ["hello there", "what is the capital of france", "hi", "the sky is blue"]


@pytest.fixture(scope="module")
def offline():
    """No network while loading and synthesizing: the hub is switched off and any connection fails."""
    import socket

    def refuse(*a, **k):
        raise AssertionError(f"network access attempted: {a!r}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket, "create_connection", refuse)
        with pytest.raises(AssertionError, match="network access"):
            socket.create_connection(("127.0.0.1", 9))
        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny autoregressive steps: one thread, no spin-waits on a busy box
        yield
        torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def ws(tmp_path_factory, offline):
    from ichigo.config import TTSConfig
    from ichigo.tts.whisperspeech import WhisperSpeechTTS, build_random_whisperspeech
    root = build_random_whisperspeech(tmp_path_factory.mktemp("ws_cache"))
    assert sorted(p.name for p in root.rglob("*") if p.is_file()) == sorted(
        [Path(f).name for f in REQUIRED] + ["random.pt"])
    tts = make_tts(TTSConfig(backend="whisperspeech", model_cache=str(root), batch_size=4))
    assert isinstance(tts, WhisperSpeechTTS) and tts.device == "cpu"
    tts.temperature, tts.max_duration_factor = 0.0, 1.0  # greedy: deterministic; short caps: fast
    return tts


def test_synthesizes_audio_offline(ws):
    torch.manual_seed(0)
    waves = ws.synthesize(TEXTS, "default")
    assert ws.sample_rate == 16000 and len(waves) == len(TEXTS)
    for text, w in zip(TEXTS, waves):
        assert w.dtype == np.float32 and w.ndim == 1 and np.isfinite(w).all()
        assert 0 < np.abs(w).max() <= 1.0 and w.std() > 1e-4
        # stoks at 25/s -> 3 EnCodec frames each (less the 4 of the delay pattern) -> 320 samples at 24 kHz
        stoks = len(ws.t2s_batch([text])[0])
        assert 2 <= stoks <= ws.max_stoks(text)
        assert abs(len(w) - (3 * stoks - 4) * 320 * 2 / 3) <= 1
        assert len(w) / 16000 <= len(text) / ws.cps * ws.max_duration_factor + 1.0
    # a named speaker embedding from the cache changes the voice
    other = ws.synthesize(TEXTS[:1], "random")[0]
    assert other.shape == waves[0].shape and not np.allclose(other, waves[0])


def test_bad_inputs_are_input_errors(ws):
    with pytest.raises(InputError, match="text 1 is empty"):
        ws.synthesize(["hello", "  "], "default")
    with pytest.raises(InputError, match="list of texts"):
        ws.synthesize("hello", "default")
    with pytest.raises(InputError, match="no speaker embedding for voice 'nobody'.*random"):
        ws.synthesize(["hello"], "nobody")
    with pytest.raises(InputError, match="text 0 is 200 bytes"):
        ws.synthesize(["x" * 200], "default")


def test_batched_matches_one_at_a_time(ws):
    """Greedy: the batched T2S / S2A give exactly whisperspeech's one-at-a-time tokens; the waves
    differ only in the last frames of padded items (Vocos' convolutions see the batch padding)."""
    spk = ws.speaker("default")
    stoks_b = ws.t2s_batch(TEXTS)
    stoks_1 = [ws.t2s.generate(t, cps=ws.cps, lang="en", N=ws.max_stoks(t) + 1, T=0.0,
                               show_progress_bar=False)[0] for t in TEXTS]
    assert all(torch.equal(a, b) for a, b in zip(stoks_b, stoks_1))
    atoks_b = ws.s2a_batch(stoks_b, spk)
    atoks_1 = [ws.s2a.generate(s, spk.unsqueeze(0), T=0.0, show_progress_bar=False)[0] for s in stoks_1]
    assert all(a.shape == (4, 3 * len(s) - 4) for a, s in zip(atoks_b, stoks_b))
    assert all(torch.equal(a, b) for a, b in zip(atoks_b, atoks_1))

    batched = ws.synthesize(TEXTS, "default")
    single = ws.synthesize(TEXTS, "default", batched=False)
    assert [w.shape for w in batched] == [w.shape for w in single]
    tail = 2 * 8 * 320 * 2 // 3  # Vocos' receptive field in this config (embed + 1 ConvNeXt + ISTFT)
    for b, s in zip(batched, single):
        np.testing.assert_allclose(b[:-tail], s[:-tail], atol=1e-5)
    longest = int(np.argmax([len(w) for w in batched]))  # no padding at all: the same wave
    np.testing.assert_allclose(batched[longest], single[longest], atol=1e-5)


def test_cross_attention_cache_keeps_whisperspeechs_tokens(ws):
    """The adapter's per-generation cross-attention keys/values give upstream's uncached tokens."""
    from ichigo.tts.whisperspeech import _load_checkpoint
    t2s_mod = import_whisperspeech("t2s_up_wds_mlang_enclm")
    s2a_mod = import_whisperspeech("s2a_delar_mup_wds_mlang")
    t2s = _load_checkpoint(t2s_mod.TSARTransformer, ws.root / "t2s.model", "cpu")
    s2a = _load_checkpoint(s2a_mod.SADelARTransformer, ws.root / "s2a.model", "cpu")
    for m in (t2s, s2a):
        m.optimize(max_batch_size=1, dtype=torch.float32, torch_compile=False)
        assert type(m.decoder.layers[0].cross_attn) is import_whisperspeech("modules").MultiHeadAttention
    text = TEXTS[1]
    ref = t2s.generate(text, cps=ws.cps, lang="en", N=ws.max_stoks(text) + 1, T=0.0, show_progress_bar=False)[0]
    assert torch.equal(ref, ws.t2s_batch([text])[0])
    spk = ws.speaker("default")
    ref_a = s2a.generate(ref, spk.unsqueeze(0), T=0.0, show_progress_bar=False)[0]
    assert torch.equal(ref_a, ws.s2a_batch([ref], spk)[0])


def test_sampling_is_seeded(ws):
    texts = TEXTS[2:]
    ws.temperature = 0.7
    try:
        torch.manual_seed(1)
        first = ws.synthesize(texts, "default")
        torch.manual_seed(1)
        again = ws.synthesize(texts, "default")
        torch.manual_seed(1)
        single = ws.synthesize(texts, "default", batched=False)
    finally:
        ws.temperature = 0.0
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    # another draw order: lengths may differ, but every item is a valid wave within its cap
    for t, w in zip(texts, single):
        assert w.dtype == np.float32 and np.isfinite(w).all() and 0 < len(w) / 16000 <= ws.max_stoks(t) / 25


def test_bad_checkpoint_is_a_config_error(tmp_path, ws):
    import shutil

    from ichigo.tts.whisperspeech import WhisperSpeechTTS
    for f in REQUIRED:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ws.root / f, tmp_path / f)
    (tmp_path / "t2s.model").write_bytes(b"not torch")
    with pytest.raises(ConfigError, match="t2s.model is not a whisperspeech TSARTransformer checkpoint"):
        WhisperSpeechTTS(str(tmp_path))
