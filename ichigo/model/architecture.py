"""Llama-architecture decoders from torchtune's modules, and their HF `config.json` form.

One builder covers every Llama-family base this platform takes: Llama-3 (plain RoPE), Llama-3.1/3.2
(Llama-3 RoPE scaling), and small Llama-architecture models such as SmolLM2 (plain RoPE, tied
input/output embeddings). Anything else in a config is rejected on load, naming what was found.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn
from torchtune.models.llama3_1._position_embeddings import Llama3ScaledRoPE
from torchtune.models.llama3_2._component_builders import llama3_mlp
from torchtune.modules import (MultiHeadAttention, RMSNorm, RotaryPositionalEmbeddings, TiedLinear,
                               TransformerDecoder, TransformerSelfAttentionLayer)

from ichigo.errors import InputError

SUPPORTED_MODEL_TYPES = ("llama",)
SUPPORTED_ROPE_SCALING = ("llama3",)


@dataclass(frozen=True)
class ModelArgs:
    vocab_size: int
    embed_dim: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    intermediate_dim: int
    max_seq_len: int
    rope_base: int = 500_000
    norm_eps: float = 1e-5
    rope_scale_factor: int | None = None  # Llama-3.1 rope scaling (8); None: plain RoPE
    rope_low_freq_factor: float = 1.0
    rope_high_freq_factor: float = 4.0
    rope_original_max_seq_len: int = 8192
    tie_embeddings: bool = False  # output head shares the embedding matrix (SmolLM2, Llama-3.2)

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads

    def with_vocab(self, vocab_size: int) -> "ModelArgs":
        return replace(self, vocab_size=vocab_size)

    def to_hf_config(self) -> dict:
        cfg = {
            "architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "vocab_size": self.vocab_size, "hidden_size": self.embed_dim,
            "num_hidden_layers": self.num_layers, "num_attention_heads": self.num_heads,
            "num_key_value_heads": self.num_kv_heads, "intermediate_size": self.intermediate_dim,
            "max_position_embeddings": self.max_seq_len, "rope_theta": float(self.rope_base),
            "rms_norm_eps": self.norm_eps, "hidden_act": "silu",
            "tie_word_embeddings": self.tie_embeddings, "torch_dtype": "float32",
            "head_dim": self.head_dim,
        }
        if self.rope_scale_factor:
            cfg["rope_scaling"] = {"rope_type": "llama3", "factor": float(self.rope_scale_factor),
                                   "low_freq_factor": self.rope_low_freq_factor,
                                   "high_freq_factor": self.rope_high_freq_factor,
                                   "original_max_position_embeddings": self.rope_original_max_seq_len}
        return cfg

    @classmethod
    def from_hf_config(cls, cfg: dict, source: str = "config.json") -> "ModelArgs":
        model_type = cfg.get("model_type", "llama")
        if model_type not in SUPPORTED_MODEL_TYPES:
            raise InputError(f"{source}: model_type {model_type!r} is not supported; supported: "
                             f"{list(SUPPORTED_MODEL_TYPES)} (Llama-architecture decoders)")
        if cfg.get("hidden_act", "silu") != "silu":
            raise InputError(f"{source}: hidden_act {cfg['hidden_act']!r} is not supported (only silu)")
        if cfg.get("attention_bias") or cfg.get("mlp_bias"):
            raise InputError(f"{source}: attention/MLP biases are not supported (Llama has none)")
        try:
            scaling = cfg.get("rope_scaling") or {}
            rope_type = scaling.get("rope_type", scaling.get("type")) if scaling else None
            if rope_type not in (None, "default", *SUPPORTED_ROPE_SCALING):
                raise InputError(f"{source}: rope_scaling type {rope_type!r} is not supported; "
                                 f"supported: none or {list(SUPPORTED_ROPE_SCALING)}")
            scaled = rope_type in SUPPORTED_ROPE_SCALING
            args = cls(
                vocab_size=cfg["vocab_size"], embed_dim=cfg["hidden_size"],
                num_layers=cfg["num_hidden_layers"], num_heads=cfg["num_attention_heads"],
                num_kv_heads=cfg.get("num_key_value_heads") or cfg["num_attention_heads"],
                intermediate_dim=cfg["intermediate_size"],
                max_seq_len=cfg.get("max_position_embeddings", 8192),
                rope_base=int(cfg.get("rope_theta", 10_000)), norm_eps=cfg.get("rms_norm_eps", 1e-5),
                rope_scale_factor=int(scaling["factor"]) if scaled else None,
                rope_low_freq_factor=float(scaling.get("low_freq_factor", 1.0)) if scaled else 1.0,
                rope_high_freq_factor=float(scaling.get("high_freq_factor", 4.0)) if scaled else 4.0,
                rope_original_max_seq_len=int(scaling.get("original_max_position_embeddings", 8192))
                if scaled else 8192,
                tie_embeddings=bool(cfg.get("tie_word_embeddings", False)))
        except KeyError as e:
            raise InputError(f"{source} lacks {e.args[0]!r}: not a Llama HF config") from None
        if args.embed_dim % args.num_heads or args.num_heads % args.num_kv_heads:
            raise InputError(f"{source}: hidden_size {args.embed_dim}, {args.num_heads} heads and "
                             f"{args.num_kv_heads} KV heads do not divide evenly")
        if cfg.get("head_dim", args.head_dim) != args.head_dim:
            raise InputError(f"{source}: head_dim {cfg['head_dim']} != hidden_size / heads "
                             f"({args.head_dim}); decoupled head sizes are not supported")
        return args

    def to_dict(self) -> dict:
        return asdict(self)


def _rope(args: ModelArgs) -> nn.Module:
    if args.rope_scale_factor:
        return Llama3ScaledRoPE(dim=args.head_dim, max_seq_len=args.max_seq_len, base=args.rope_base,
                                scale_factor=args.rope_scale_factor,
                                low_freq_factor=args.rope_low_freq_factor,
                                high_freq_factor=args.rope_high_freq_factor,
                                old_context_len=args.rope_original_max_seq_len)
    return RotaryPositionalEmbeddings(dim=args.head_dim, max_seq_len=args.max_seq_len, base=args.rope_base)


class Fp32RMSNorm(RMSNorm):
    """torchtune's RMSNorm (fp32 compute, same `scale` parameter) with its weight in fp32 too:
    under bf16 mixed precision the weight arrives in bf16, and an fp32 input with a bf16 weight
    misses PyTorch's fused kernel ("Mismatch dtype between input and weight" warning)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x.float(), self.normalized_shape, self.scale.float(), self.eps).to(x.dtype)


def build_model(args: ModelArgs) -> TransformerDecoder:
    """The same module tree and parameter names as torchtune's llama3 / llama3_1 / llama3_2 builders
    (so HF<->torchtune key conversion applies), with the RoPE variant and tying taken from `args`."""
    e, hd = args.embed_dim, args.head_dim
    rope = _rope(args)  # one instance shared by all layers, as in torchtune's builders
    layers = nn.ModuleList()
    for _ in range(args.num_layers):
        attn = MultiHeadAttention(
            embed_dim=e, num_heads=args.num_heads, num_kv_heads=args.num_kv_heads, head_dim=hd,
            q_proj=nn.Linear(e, args.num_heads * hd, bias=False),
            k_proj=nn.Linear(e, args.num_kv_heads * hd, bias=False),
            v_proj=nn.Linear(e, args.num_kv_heads * hd, bias=False),
            output_proj=nn.Linear(e, e, bias=False), pos_embeddings=rope,
            max_seq_len=args.max_seq_len)
        layers.append(TransformerSelfAttentionLayer(
            attn=attn, mlp=llama3_mlp(dim=e, hidden_dim=args.intermediate_dim),
            sa_norm=Fp32RMSNorm(e, eps=args.norm_eps), mlp_norm=Fp32RMSNorm(e, eps=args.norm_eps)))
    tok = nn.Embedding(args.vocab_size, e)
    output = TiedLinear(tok) if args.tie_embeddings else nn.Linear(e, args.vocab_size, bias=False)
    return TransformerDecoder(tok_embeddings=tok, layers=layers, max_seq_len=args.max_seq_len,
                              num_heads=args.num_heads, head_dim=hd, norm=Fp32RMSNorm(e, eps=args.norm_eps),
                              output=output)
