"""Pipeline step: the base model with the sound tokens added, ready for stage 1."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ichigo.config import Profile
from ichigo.model.base_model import build_embedded_base_model
from ichigo.model.checkpoint import load_pretrained, save_pretrained
from ichigo.model.gguf_import import import_gguf, resolve_gguf
from ichigo.model.vocab import extend_vocab
from ichigo.precision import training_bf16
from ichigo.storage import default_cache_dir, fetch


def prepare_model(profile: Profile, out_dir: str | Path, progress=None) -> dict:
    """Writes `out_dir/base` (the unmodified base, for text-retention comparison; embedded and
    gguf, an hf_checkpoint base is referenced by `summary["base_uri"]`) and `out_dir/extended`
    (base + 515 tokens). Returns a summary that is also `out_dir/summary.json`."""
    out = Path(out_dir)
    cfg = profile.base_model
    if cfg.kind == "embedded":
        base_dir = out / "base"
        # the embedded base trains on this CPU, in bf16 where training.dtype asks for it and the CPU has it
        summary = build_embedded_base_model(cfg, base_dir, on_step=progress,
                                            bf16=training_bf16("cpu", profile.training.dtype))
    elif cfg.kind == "gguf":
        # dequantized once per file content into the shared cache; `base` is a copy so that the
        # text-retention eval compares the candidate with the real base model
        converted = import_gguf(resolve_gguf(cfg.uri, out / "cache"), default_cache_dir().parent / "gguf")
        base_dir = out / "base"
        shutil.rmtree(base_dir, ignore_errors=True)
        shutil.copytree(converted, base_dir)
        summary = {"kind": "gguf", "base_uri": cfg.uri, **json.loads((converted / "ichigo.json").read_text())}
    else:
        base_dir = fetch(cfg.uri, out / "cache")
        summary = {"kind": "hf_checkpoint", "base_uri": cfg.uri}
    lm = load_pretrained(base_dir)
    summary["chat_format"] = lm.tokenizer.chat_format.name
    summary["parameters"] = sum(p.numel() for p in lm.model.parameters())
    model, tok, args = extend_vocab(lm.model, lm.tokenizer, lm.args)
    save_pretrained(model, tok, args, out / "extended",
                    meta={**lm.meta, "base_vocab_size": lm.args.vocab_size, "vocab_size": args.vocab_size,
                          "chat_format": tok.chat_format.name})
    summary = {**summary, "base_vocab_size": lm.args.vocab_size, "vocab_size": args.vocab_size}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary
