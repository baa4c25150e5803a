"""prepare_model with base_model.kind gguf: converted once into the cache, `base` kept for the
text-retention comparison, `extended` with the sound tokens after the base vocabulary."""

import json

from ichigo.config import load_profile
from ichigo.model.checkpoint import load_pretrained
from ichigo.model.prepare import prepare_model
from tests.model.gguf_fixtures import write_gguf


def test_prepare_from_a_gguf_file(tmp_path, monkeypatch):
    monkeypatch.setenv("ICHIGO_CACHE_DIR", str(tmp_path / "cache"))
    write_gguf(tmp_path / "base.gguf")
    profile = load_profile("small", {"base_model": {"uri": str(tmp_path / "base.gguf")}})
    assert profile.base_model.kind == "gguf" and profile.training.dtype == "bf16"
    summary = prepare_model(profile, tmp_path / "prepared")
    assert summary["kind"] == "gguf" and summary["chat_format"] == "chatml"
    assert (summary["base_vocab_size"], summary["vocab_size"]) == (260, 775)
    ext = load_pretrained(tmp_path / "prepared" / "extended")
    assert ext.tokenizer.sound.start_id == 260 and ext.tokenizer.chat_format.name == "chatml"
    assert json.loads((tmp_path / "prepared" / "extended" / "ichigo.json").read_text())["base_model"]["kind"] == "gguf"
    assert load_pretrained(tmp_path / "prepared" / "base").args.vocab_size == 260
    assert len(list((tmp_path / "cache" / "gguf").glob("gguf-*"))) == 1
    prepare_model(profile, tmp_path / "again")  # second run reuses the cached conversion
    assert len(list((tmp_path / "cache" / "gguf").glob("gguf-*"))) == 1
