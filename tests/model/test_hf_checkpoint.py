"""HF-format checkpoints: the architecture comes from config.json, and a config that disagrees
with the tensors fails on load naming both."""

import json

import pytest
import torch

from ichigo.errors import InputError
from ichigo.model import ModelArgs, build_model, load_pretrained, save_pretrained
from ichigo.model.base_model import init_weights
from tests.model.gguf_fixtures import write_gguf


@pytest.fixture
def tiny_dir(tmp_path):
    from ichigo.model.gguf_import import import_gguf

    write_gguf(tmp_path / "t.gguf")
    return import_gguf(tmp_path / "t.gguf", tmp_path / "cache")


def _edit_config(d, **changes):
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(changes)
    (d / "config.json").write_text(json.dumps(cfg))


def test_config_layers_disagreeing_with_tensors(tiny_dir):
    _edit_config(tiny_dir, num_hidden_layers=2)
    with pytest.raises(InputError, match=r"config.json and the weights disagree.*missing \['layers.1"):
        load_pretrained(tiny_dir)


def test_config_width_disagreeing_with_tensors(tiny_dir):
    _edit_config(tiny_dir, intermediate_size=48)
    with pytest.raises(InputError, match=r"disagree.*layers.0.mlp.w1.weight: tensors \(64, 32\), config \(48, 32\)"):
        load_pretrained(tiny_dir)


def test_config_heads_disagreeing_with_tensors(tiny_dir):
    _edit_config(tiny_dir, num_key_value_heads=4)
    with pytest.raises(InputError, match="4 KV heads.*disagree"):
        load_pretrained(tiny_dir)


def test_untied_config_on_tied_weights(tiny_dir):
    _edit_config(tiny_dir, tie_word_embeddings=False)
    with pytest.raises(InputError, match="tie_word_embeddings false but there is no lm_head"):
        load_pretrained(tiny_dir)


def test_unsupported_config_is_named(tiny_dir):
    _edit_config(tiny_dir, model_type="mistral")
    with pytest.raises(InputError, match=r"model_type 'mistral' is not supported; supported: \['llama'\]"):
        load_pretrained(tiny_dir)
    _edit_config(tiny_dir, model_type="llama", rope_scaling={"rope_type": "yarn", "factor": 4.0})
    with pytest.raises(InputError, match="rope_scaling type 'yarn' is not supported"):
        load_pretrained(tiny_dir)


def test_rope_scaling_and_tying_round_trip_through_config(tmp_path, tiny_dir):
    lm = load_pretrained(tiny_dir)
    args = ModelArgs(**{**lm.args.to_dict(), "rope_scale_factor": 32, "rope_high_freq_factor": 2.0,
                        "tie_embeddings": False})
    model = build_model(args)
    init_weights(model)
    save_pretrained(model, lm.tokenizer, args, tmp_path / "scaled")
    again = load_pretrained(tmp_path / "scaled")
    assert again.args == args
    rope = again.model.layers[0].attn.pos_embeddings
    assert type(rope).__name__ == "Llama3ScaledRoPE" and rope.scale_factor == 32
    x = torch.randint(0, args.vocab_size, (1, 8))
    with torch.no_grad():
        torch.testing.assert_close(again.model(x), model.eval()(x))
