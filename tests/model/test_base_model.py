"""The embedded base model's pre-training: bf16 compute keeps fp32 weights, and prepare follows the dtype rule."""

from __future__ import annotations

import pytest
import torch

from ichigo.config import BaseModelConfig, load_profile
from ichigo.errors import ConfigError
from ichigo.model import base_model, prepare
from ichigo.model.base_model import build_embedded_base_model
from ichigo.model.checkpoint import load_pretrained

TINY = dict(embed_dim=64, num_layers=2, num_heads=4, num_kv_heads=2, intermediate_dim=128, max_seq_len=1024,
            pretrain_steps=40, pretrain_lr=3e-3, pretrain_documents=6000)


def test_bf16_pretraining_learns_and_saves_fp32_weights(tmp_path):
    summary = build_embedded_base_model(BaseModelConfig(**TINY), tmp_path, bf16=True)
    assert summary["precision"] == "bf16 autocast, fp32 weights"
    curve = summary["loss_curve"]
    assert sum(curve[-5:]) / 5 < 0.6 * sum(curve[:5]) / 5
    lm = load_pretrained(tmp_path)
    assert {p.dtype for p in lm.model.parameters()} == {torch.float32}


def test_pretraining_draws_from_the_configured_number_of_documents(tmp_path, monkeypatch):
    sizes = []
    real = base_model.base_training_documents

    def spy(tok, n, seed):
        sizes.append(n)
        return real(tok, n, seed)

    monkeypatch.setattr(base_model, "base_training_documents", spy)
    build_embedded_base_model(BaseModelConfig(**(TINY | {"pretrain_steps": 1, "pretrain_documents": 300})), tmp_path)
    assert sizes == [300]


def test_too_few_documents_for_one_sequence_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="pretrain_documents=2 does not fill one 256-token"):
        build_embedded_base_model(BaseModelConfig(**(TINY | {"pretrain_documents": 2})), tmp_path)


def test_prepare_pretrains_in_bf16_only_where_the_dtype_rule_says(tmp_path, monkeypatch):
    seen = []

    def fake_build(cfg, out_dir, on_step=None, bf16=False):
        seen.append(bf16)
        return build_embedded_base_model(cfg.model_copy(update={"pretrain_steps": 1}), out_dir)

    monkeypatch.setattr(prepare, "build_embedded_base_model", fake_build)
    p = load_profile("smoke", overrides={"base_model": {k: v for k, v in TINY.items() if k != "pretrain_steps"}})
    for dtype, cpu_has_bf16, expect in [("bf16", True, True), ("bf16", False, False), ("fp32", True, False)]:
        monkeypatch.setattr("ichigo.precision.cpu_supports_bf16", lambda v=cpu_has_bf16: v)
        q = p.model_copy(update={"training": p.training.model_copy(update={"dtype": dtype})})
        prepare.prepare_model(q, tmp_path / f"{dtype}-{cpu_has_bf16}")
        assert seen[-1] is expect
