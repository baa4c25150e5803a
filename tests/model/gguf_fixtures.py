"""Tiny GGUF files in llama.cpp's real layout, written with the gguf package's own writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np

CHATML_TEMPLATE = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + "
                   "message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}"
                   "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}")
CONTROL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<empty_output>"]


def byte_vocab() -> list[str]:
    """The control tokens, then the 256 GPT-2 byte symbols (a valid byte-level BPE without merges)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return CONTROL + [chr(c) for c in cs]


def write_gguf(path: Path, arch: str = "llama", template: str | None = CHATML_TEMPLATE,
               tensor_dtype=np.float32, quantize_q8: bool = False, seed: int = 0,
               dims: tuple[int, int, int, int, int] = (1, 32, 64, 4, 2)) -> dict[str, np.ndarray]:
    """A 1-layer llama GGUF (layers, dim, ffn, heads, kv heads). Returns the written weights in
    numpy (rows, cols) order keyed by GGUF name (quantized ones as dequantized by gguf)."""
    import gguf

    layers, dim, ffn, heads, kv = dims
    tokens = byte_vocab()
    rng = np.random.default_rng(seed)
    w = gguf.GGUFWriter(str(path), arch)
    w.add_block_count(layers)
    w.add_context_length(128)
    w.add_embedding_length(dim)
    w.add_feed_forward_length(ffn)
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_rope_freq_base(10000.0)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(dim // heads)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("smollm")
    w.add_token_list(tokens)
    w.add_token_types([3 if t in CONTROL else 1 for t in tokens])
    w.add_token_merges([])
    if template is not None:
        w.add_chat_template(template)
    hd = dim // heads
    shapes = {"token_embd.weight": (len(tokens), dim), "output_norm.weight": (dim,)}
    for i in range(layers):
        shapes.update({f"blk.{i}.attn_norm.weight": (dim,), f"blk.{i}.ffn_norm.weight": (dim,),
                       f"blk.{i}.attn_q.weight": (heads * hd, dim), f"blk.{i}.attn_k.weight": (kv * hd, dim),
                       f"blk.{i}.attn_v.weight": (kv * hd, dim), f"blk.{i}.attn_output.weight": (dim, dim),
                       f"blk.{i}.ffn_gate.weight": (ffn, dim), f"blk.{i}.ffn_up.weight": (ffn, dim),
                       f"blk.{i}.ffn_down.weight": (dim, ffn)})
    written = {}
    for name, shape in shapes.items():
        arr = (rng.standard_normal(shape) * (0.2 if len(shape) == 2 else 0.05) + (len(shape) == 1)).astype(np.float32)
        if quantize_q8 and name.endswith("ffn_up.weight"):
            q = gguf.quants.quantize(arr, gguf.GGMLQuantizationType.Q8_0)
            w.add_tensor(name, q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
            written[name] = gguf.quants.dequantize(q, gguf.GGMLQuantizationType.Q8_0)
        else:
            w.add_tensor(name, arr.astype(tensor_dtype))
            written[name] = arr.astype(tensor_dtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return written


def decode_byte_level(tokens: list[str], ids: list[int]) -> str:
    """GPT-2 byte-level detokenization straight from a GGUF token list (a reference independent of
    the project's tokenizer)."""
    syms = byte_vocab()[len(CONTROL):]
    to_byte = {s: b for s, b in zip(syms, _byte_order())}
    return bytes(to_byte[ch] for i in ids for ch in tokens[i]).decode("utf-8", errors="replace")


def _byte_order() -> list[int]:
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    return bs + [b for b in range(256) if b not in bs]
