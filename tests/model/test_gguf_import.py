"""GGUF bases on tiny fixtures: the name map, dequantization, caching and every rejection."""

import json

import numpy as np
import pytest
import torch

from ichigo.chat_template import Message, render_chat, tokenize_chat
from ichigo.errors import InputError
from ichigo.model import extend_vocab, load_pretrained, save_pretrained
from ichigo.model.gguf_import import import_gguf, resolve_gguf
from ichigo.model.tokenizer import IchigoTokenizer
from tests.model.gguf_fixtures import write_gguf


def test_a_gguf_converts_once_and_loads_strictly(tmp_path):
    src = tmp_path / "tiny.gguf"
    written = write_gguf(src, quantize_q8=True)
    d = import_gguf(src, tmp_path / "cache")
    lm = load_pretrained(d)  # strict load inside
    assert lm.args.tie_embeddings and lm.args.num_kv_heads == 2 and lm.args.vocab_size == 260
    sd = lm.model.state_dict()
    # through the HF format and back, every tensor is the GGUF's (Q8_0 as gguf dequantizes it)
    torch.testing.assert_close(sd["layers.0.mlp.w3.weight"], torch.from_numpy(written["blk.0.ffn_up.weight"]))
    torch.testing.assert_close(sd["layers.0.attn.q_proj.weight"], torch.from_numpy(written["blk.0.attn_q.weight"]))
    torch.testing.assert_close(sd["tok_embeddings.weight"], torch.from_numpy(written["token_embd.weight"]))
    assert "output.weight" not in sd
    assert lm.tokenizer.chat_format.name == "chatml"
    assert json.loads((d / "config.json").read_text())["tie_word_embeddings"] is True
    stamp = (d / "model.safetensors").stat().st_mtime_ns
    assert import_gguf(src, tmp_path / "cache") == d  # cached: not converted again
    assert (d / "model.safetensors").stat().st_mtime_ns == stamp


def test_tied_head_follows_the_vocab_extension(tmp_path):
    src = tmp_path / "tiny.gguf"
    write_gguf(src)
    lm = load_pretrained(import_gguf(src, tmp_path / "cache"))
    x = torch.randint(0, 260, (1, 10))
    with torch.no_grad():
        before = lm.model(x)
        model, tok, args = extend_vocab(lm.model, lm.tokenizer, lm.args)
        after = model(x)
    assert tok.sound.start_id == 260 and tok.sound.code_id(512) == 260 + 514
    assert after.shape[-1] == 260 + 515
    torch.testing.assert_close(after[..., :260], before, rtol=0, atol=1e-6)
    assert model.output.tied_module is model.tok_embeddings
    save_pretrained(model, tok, args, tmp_path / "ext")
    again = load_pretrained(tmp_path / "ext")
    assert again.tokenizer.chat_format.name == "chatml" and again.tokenizer.sound.start_id == 260


def test_chatml_layout_matches_the_template(tmp_path):
    jinja2 = pytest.importorskip("jinja2")
    src = tmp_path / "tiny.gguf"
    write_gguf(src)
    tok = load_pretrained(import_gguf(src, tmp_path / "cache")).tokenizer.with_sound_tokens()
    msgs = [Message("system", "Be brief."), Message("user", "Hi 42"), Message("assistant", "Hello.")]
    ref = jinja2.Template(tok.chat_template).render(
        messages=[{"role": m.role, "content": m.text} for m in msgs], add_generation_prompt=True)
    assert render_chat(msgs, True, fmt=tok.chat_format) == ref
    chat = tokenize_chat(msgs, tok, add_generation_prompt=True)
    assert tok.decode(chat.ids) == ref
    out = [t for t, o in zip(chat.ids, chat.is_output) if o]
    assert tok.decode(out) == "Hello.<|im_end|>"  # the reply and its end-of-turn, not the "\n"
    assert tok.stop_ids == {tok.special_id("<|im_end|>"), tok.special_id("<|endoftext|>")}


def test_unsupported_architecture_is_named(tmp_path):
    src = tmp_path / "m.gguf"
    write_gguf(src, arch="mamba")
    with pytest.raises(InputError, match=r"architecture 'mamba' is not supported; supported: \['llama'\]"):
        import_gguf(src, tmp_path / "cache")


def test_unsupported_quantization_is_named(tmp_path):
    src = tmp_path / "m.gguf"
    write_gguf(src, tensor_dtype=np.int8)
    with pytest.raises(InputError, match=r"tensor types \['I8'\] are not supported; supported: .*Q4_1"):
        import_gguf(src, tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("gguf-*"))  # nothing half-written is cached


def test_gguf_without_chat_template_is_refused(tmp_path):
    src = tmp_path / "m.gguf"
    write_gguf(src, template=None)
    with pytest.raises(InputError, match="no tokenizer.chat_template.*supported: Llama-3 headers or ChatML"):
        import_gguf(src, tmp_path / "cache")


def test_unknown_template_layout_is_refused(tmp_path):
    src = tmp_path / "m.gguf"
    write_gguf(src, template="{% for m in messages %}[INST] {{ m['content'] }} [/INST]{% endfor %}")
    with pytest.raises(InputError, match="neither of the supported layouts"):
        import_gguf(src, tmp_path / "cache")


def test_not_a_gguf_file(tmp_path):
    bad = tmp_path / "x.gguf"
    bad.write_bytes(b"not a gguf at all" * 10)
    with pytest.raises(InputError, match="not a readable GGUF"):
        import_gguf(bad, tmp_path / "cache")


def test_package_uris(tmp_path):
    with pytest.raises(InputError, match="package 'no-such-pkg-xyz' is not installed"):
        resolve_gguf("package:no-such-pkg-xyz")
    with pytest.raises(InputError, match="expected one .gguf file"):
        resolve_gguf("package:pytest/missing.gguf")


def test_tokenizer_json_without_template_or_known_specials_is_refused(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers

    tk = Tokenizer(models.BPE(vocab={"a": 0, "b": 1}, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel()
    with pytest.raises(InputError, match="no chat template.*supported"):
        IchigoTokenizer(tk, None, source="tokenizer.json")
