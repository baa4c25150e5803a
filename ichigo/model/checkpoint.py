"""HF-format model directories: config.json + safetensors (+ tokenizer.json, ichigo.json).

Weights are stored with HF Llama key names (torchtune's converters), so the directory is usable by
other HF tooling (e.g. vLLM), and sharded HF checkpoints (an index file) load too.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torchtune.models.convert_weights import hf_to_tune, tune_to_hf
from torchtune.modules import TransformerDecoder

from ichigo.errors import InputError
from ichigo.model.architecture import ModelArgs, build_model
from ichigo.model.tokenizer import IchigoTokenizer

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
INDEX_FILE = "model.safetensors.index.json"
META_FILE = "ichigo.json"  # platform metadata (chat template version, lineage, ...)


@dataclass
class LoadedModel:
    model: TransformerDecoder
    tokenizer: IchigoTokenizer
    args: ModelArgs
    meta: dict = field(default_factory=dict)


def save_pretrained(model: TransformerDecoder | dict, tokenizer: IchigoTokenizer, args: ModelArgs,
                    directory: str | Path, meta: dict | None = None) -> Path:
    """`model` may be a module or a (full, unsharded) torchtune state dict."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    sd = model.state_dict() if isinstance(model, torch.nn.Module) else model
    if args.vocab_size != tokenizer.vocab_size:
        raise ValueError(f"model vocab {args.vocab_size} != tokenizer vocab {tokenizer.vocab_size}")
    hf = tune_to_hf({k: v.detach().contiguous().cpu() for k, v in sd.items()},
                    num_heads=args.num_heads, num_kv_heads=args.num_kv_heads, dim=args.embed_dim)
    tmp = d / (WEIGHTS_FILE + ".tmp")
    save_file(hf, str(tmp), metadata={"format": "pt"})
    os.replace(tmp, d / WEIGHTS_FILE)
    (d / CONFIG_FILE).write_text(json.dumps(args.to_hf_config(), indent=2) + "\n")
    tokenizer.save(d)
    (d / META_FILE).write_text(json.dumps(meta or {}, indent=2, sort_keys=True) + "\n")
    return d


def _read_hf_weights(d: Path) -> dict[str, torch.Tensor]:
    if (d / WEIGHTS_FILE).is_file():
        return load_file(str(d / WEIGHTS_FILE))
    if (d / INDEX_FILE).is_file():
        files = sorted(set(json.loads((d / INDEX_FILE).read_text())["weight_map"].values()))
        out: dict[str, torch.Tensor] = {}
        for f in files:
            out.update(load_file(str(d / f)))
        return out
    raise FileNotFoundError(f"{d} holds neither {WEIGHTS_FILE} nor {INDEX_FILE}")


def load_args(directory: str | Path) -> ModelArgs:
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: not an HF-format model directory")
    return ModelArgs.from_hf_config(json.loads(path.read_text()), source=str(path))


def load_state_dict(directory: str | Path) -> dict[str, torch.Tensor]:
    """torchtune-keyed full state dict of an HF-format directory."""
    args = load_args(directory)
    hf = _read_hf_weights(Path(directory))
    if args.tie_embeddings and "lm_head.weight" in hf:  # some tied checkpoints also store the head
        if not torch.equal(hf["lm_head.weight"], hf.get("model.embed_tokens.weight", torch.empty(0))):
            raise InputError(f"{directory}: config.json says tie_word_embeddings true but lm_head "
                             "differs from the embeddings")
        del hf["lm_head.weight"]
    try:
        return hf_to_tune(hf, num_heads=args.num_heads, num_kv_heads=args.num_kv_heads,
                          dim=args.embed_dim)
    except (RuntimeError, ValueError, KeyError) as e:  # q/k reshape or an unknown key
        shapes = {k: tuple(v.shape) for k, v in hf.items() if "layers.0." in k or "embed" in k}
        raise InputError(f"{directory}: config.json ({args.num_heads} heads, {args.num_kv_heads} KV "
                         f"heads, hidden {args.embed_dim}) and the weights disagree ({e}); "
                         f"weights: {shapes}") from None


def check_state_dict(sd: dict[str, torch.Tensor], args: ModelArgs, source: str) -> None:
    """Names and shapes of `sd` against the model `args` describes, before any loading, so that a
    config.json that disagrees with its tensors is reported as such (not as a torch size error)."""
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in build_model(args).state_dict().items()}
    got = {k: tuple(v.shape) for k, v in sd.items()}
    if got == expected:
        return
    missing = sorted(set(expected) - set(got))
    unexpected = sorted(set(got) - set(expected))
    shapes = [f"{k}: tensors {got[k]}, config {expected[k]}" for k in sorted(set(got) & set(expected))
              if got[k] != expected[k]]
    hint = ""
    if "output.weight" in missing:
        hint = " (config.json says tie_word_embeddings false but there is no lm_head)"
    elif "output.weight" in unexpected:
        hint = " (config.json says tie_word_embeddings true but the weights hold an lm_head)"
    raise InputError(f"{source}: config.json and the weights disagree{hint}: "
                     f"missing {missing[:4]}, unexpected {unexpected[:4]}, shapes {shapes[:4]}")


def load_pretrained(directory: str | Path, device: str | torch.device = "cpu",
                    dtype: torch.dtype = torch.float32) -> LoadedModel:
    d = Path(directory)
    args = load_args(d)
    tokenizer = IchigoTokenizer.load(d)
    if tokenizer.vocab_size != args.vocab_size:
        raise ValueError(f"{d}: config vocab_size {args.vocab_size} != tokenizer size "
                         f"{tokenizer.vocab_size}; was the vocabulary extended without saving both?")
    sd = load_state_dict(d)
    check_state_dict(sd, args, str(d))
    model = build_model(args)
    model.load_state_dict(sd, strict=True)
    model.to(device=device, dtype=dtype).eval()
    meta = json.loads((d / META_FILE).read_text()) if (d / META_FILE).is_file() else {}
    return LoadedModel(model, tokenizer, args, meta)
