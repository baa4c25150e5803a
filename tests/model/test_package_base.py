"""The package records its base model and chat layout; serving's engine follows them."""

import json

import pytest

from ichigo.chat_template import Message
from ichigo.errors import InputError
from ichigo.model import extend_vocab, load_pretrained, save_pretrained
from ichigo.model.gguf_import import import_gguf
from ichigo.package import PACKAGE_FILE, llm_dir, read_package_info, write_package
from tests.model.gguf_fixtures import write_gguf


@pytest.fixture
def chatml_package(tmp_path):
    write_gguf(tmp_path / "t.gguf")
    base = import_gguf(tmp_path / "t.gguf", tmp_path / "cache")
    lm = load_pretrained(base)
    model, tok, args = extend_vocab(lm.model, lm.tokenizer, lm.args)
    save_pretrained(model, tok, args, tmp_path / "extended",
                    meta={**lm.meta, "base_vocab_size": 260})  # as prepare_model writes it
    st = tmp_path / "codebook.npz"
    st.write_bytes(b"stand-in")
    return write_package(tmp_path / "pkg", tmp_path / "extended", st, "codebook")


def test_package_records_base_and_template(chatml_package):
    info = read_package_info(chatml_package)
    assert info.chat_template == "chatml-ichigo/1"
    b = info.base_model
    assert b["kind"] == "gguf" and b["chat_format"] == "chatml" and b["base_vocab_size"] == 260
    assert b["vocab_size"] == 260 + 515 and b["tied_embeddings"] is True


def test_unknown_template_id_is_refused(chatml_package):
    p = chatml_package / PACKAGE_FILE
    p.write_text(json.dumps({**json.loads(p.read_text()), "chat_template": "mistral-inst/1"}))
    with pytest.raises(InputError, match=r"chat template 'mistral-inst/1'.*supports \['chatml-ichigo/1', 'llama3-ichigo/1'\]"):
        read_package_info(chatml_package)


def test_torch_engine_prompts_in_the_packages_layout(chatml_package):
    from ichigo.assistant import prompt_ids
    from ichigo.engines.torch_engine import TorchEngine

    eng = TorchEngine(llm_dir(chatml_package))
    tok = eng.tokenizer
    ids = prompt_ids([Message("user", "hi")], tok)
    assert tok.decode(ids) == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    assert tok.special_id("<|im_end|>") in tok.stop_ids
