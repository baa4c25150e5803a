"""The decoder's RMSNorm under bf16 mixed precision (bf16 weight, fp32 compute): the same numbers
as torchtune's, with input and weight in one dtype, so PyTorch takes its fused kernel and does not
warn "Mismatch dtype between input and weight" on every training rank."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torchtune.modules import RMSNorm

from ichigo.model import architecture
from ichigo.model.architecture import Fp32RMSNorm


def test_bf16_weight_normalises_in_fp32_with_matching_dtypes(monkeypatch):
    torch.manual_seed(0)
    ours, theirs = Fp32RMSNorm(64, eps=1e-5), RMSNorm(64, eps=1e-5)
    with torch.no_grad():
        ours.scale.copy_(torch.randn(64))
    theirs.load_state_dict(ours.state_dict())  # same parameter name: checkpoints load either way
    ours, theirs = ours.to(torch.bfloat16), theirs.to(torch.bfloat16)
    x = torch.randn(3, 5, 64, dtype=torch.bfloat16)
    expected = theirs(x)
    calls, real = [], F.rms_norm

    def rms_norm(inp, shape, weight=None, eps=None):
        calls.append((inp.dtype, weight.dtype))
        return real(inp, shape, weight, eps)

    monkeypatch.setattr(architecture.F, "rms_norm", rms_norm)
    out = ours(x)
    assert calls == [(torch.float32, torch.float32)]
    assert out.dtype == torch.bfloat16
    torch.testing.assert_close(out, expected)
