"""Llama-3 architecture from torchtune's builders, and its HF `config.json` form."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from torchtune.models.llama3 import llama3
from torchtune.models.llama3_1 import llama3_1
from torchtune.modules import TransformerDecoder


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
    rope_scale_factor: int | None = None  # Llama-3.1 rope scaling (8); None: plain Llama-3

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
            "rms_norm_eps": self.norm_eps, "hidden_act": "silu", "tie_word_embeddings": False,
            "torch_dtype": "float32", "head_dim": self.head_dim,
        }
        if self.rope_scale_factor:
            cfg["rope_scaling"] = {"rope_type": "llama3", "factor": float(self.rope_scale_factor),
                                   "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                   "original_max_position_embeddings": 8192}
        return cfg

    @classmethod
    def from_hf_config(cls, cfg: dict) -> "ModelArgs":
        try:
            scaling = cfg.get("rope_scaling") or {}
            return cls(
                vocab_size=cfg["vocab_size"], embed_dim=cfg["hidden_size"],
                num_layers=cfg["num_hidden_layers"], num_heads=cfg["num_attention_heads"],
                num_kv_heads=cfg.get("num_key_value_heads", cfg["num_attention_heads"]),
                intermediate_dim=cfg["intermediate_size"],
                max_seq_len=cfg.get("max_position_embeddings", 8192),
                rope_base=int(cfg.get("rope_theta", 500_000)), norm_eps=cfg.get("rms_norm_eps", 1e-5),
                rope_scale_factor=int(scaling["factor"]) if scaling.get("rope_type") == "llama3" else None)
        except KeyError as e:
            raise ValueError(f"config.json lacks {e.args[0]!r}: not a Llama HF config") from None

    def to_dict(self) -> dict:
        return asdict(self)


def build_model(args: ModelArgs) -> TransformerDecoder:
    common = dict(vocab_size=args.vocab_size, num_layers=args.num_layers, num_heads=args.num_heads,
                  num_kv_heads=args.num_kv_heads, embed_dim=args.embed_dim,
                  max_seq_len=args.max_seq_len, intermediate_dim=args.intermediate_dim,
                  rope_base=args.rope_base, norm_eps=args.norm_eps)
    if args.rope_scale_factor:
        return llama3_1(**common, scale_factor=args.rope_scale_factor)
    return llama3(**common)
