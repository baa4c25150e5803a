"""Checkpoints: an HF-format model dir per save plus a `resume/` dir for exact continuation.

    output_dir/checkpoints/step_000050/   config.json, model.safetensors, tokenizer.json, ichigo.json
    output_dir/checkpoints/step_000050/resume/
        optimizer/        sharded AdamW state (torch.distributed.checkpoint, one file per rank)
        trainer.json      step, epoch position, scheduler state, world size, seed
        rng_rank{R}.pt    per-rank RNG states

Everything is written into `.tmp-step_N` and renamed once all ranks are done, so a job killed at
any moment leaves either a complete checkpoint or none (stale temp dirs are removed on start).
"""

from __future__ import annotations

import json
import logging
import random
import re
import shutil
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.distributed.checkpoint as dcp
from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict, set_optimizer_state_dict

from ichigo import durable
from ichigo.model.checkpoint import save_pretrained
from ichigo.training.distributed import DistEnv, gather_full_state_dict

log = logging.getLogger(__name__)

CHECKPOINTS = "checkpoints"
_STEP_RE = re.compile(r"^step_(\d+)$")


def checkpoint_dirs(output_dir: Path) -> list[tuple[int, Path]]:
    root = Path(output_dir) / CHECKPOINTS
    if not root.is_dir():
        return []
    out = [(int(m.group(1)), p) for p in root.iterdir() if (m := _STEP_RE.match(p.name)) and p.is_dir()]
    return sorted(out)


def latest_checkpoint(output_dir: Path) -> Path | None:
    dirs = [p for _, p in checkpoint_dirs(output_dir) if (p / "resume" / "trainer.json").is_file()]
    return dirs[-1] if dirs else None


def clean_stale(output_dir: Path) -> None:
    root = Path(output_dir) / CHECKPOINTS
    if root.is_dir():
        for p in root.glob(".tmp-*"):
            shutil.rmtree(p, ignore_errors=True)


def rng_state() -> dict:
    """Every RNG as tensors and plain numbers only, so it loads with torch.load(weights_only=True):
    checkpoints come back from S3, and unpickling arbitrary objects from there would run code."""
    version, mt, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    st = {"torch": torch.get_rng_state(),
          "python": {"version": version, "state": torch.tensor(mt, dtype=torch.int64), "gauss": gauss},
          "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                    "has_gauss": int(has_gauss), "cached_gaussian": float(cached)}}
    if torch.cuda.is_available():
        st["cuda"] = torch.cuda.get_rng_state_all()
    return st


def set_rng_state(st: dict) -> None:
    torch.set_rng_state(st["torch"])
    py = st["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
    n = st["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    if "cuda" in st and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(st["cuda"])


def load_rng_file(path: Path) -> dict | None:
    """The saved RNG state, loaded with weights_only=True; None (with a warning) for a file in
    the old pickled format, which is not loaded: the resumed run then keeps its fresh seeds."""
    try:
        return torch.load(path, weights_only=True)
    except Exception as e:  # noqa: BLE001 - pickle.UnpicklingError and friends
        log.warning("not restoring RNG state from %s (%s): re-save it with this version", path,
                    str(e).splitlines()[0][:200])
        return None


def save_checkpoint(output_dir: Path, step: int, model, optimizer, scheduler, trainer_state: dict,
                    tokenizer, args, meta: dict, env: DistEnv, keep_last: int) -> Path:
    """Collective. Returns the final checkpoint dir."""
    root = Path(output_dir) / CHECKPOINTS
    name = f"step_{step:06d}"
    tmp, final = root / f".tmp-{name}", root / name
    full = gather_full_state_dict(model)
    if env.local_rank == 0:
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "resume").mkdir(parents=True)
    dist.barrier()
    if env.is_rank0:
        save_pretrained(full, tokenizer, args, tmp, meta={**meta, "step": step})
    del full
    dcp.save({"optimizer": get_optimizer_state_dict(model, optimizer)},
             checkpoint_id=str(tmp / "resume" / "optimizer"))
    torch.save(rng_state(), tmp / "resume" / f"rng_rank{env.rank}.pt")
    if env.is_rank0:
        state = {**trainer_state, "step": step, "world_size": env.world_size,
                 "scheduler": scheduler.state_dict()}
        (tmp / "resume" / "trainer.json").write_text(json.dumps(state, indent=1, sort_keys=True) + "\n")
    dist.barrier()
    if env.local_rank == 0:
        try:
            if final.exists():
                shutil.rmtree(final)
            durable.fsync_tree(tmp)  # resume trusts any step_* dir: its bytes must be on disk
            tmp.rename(final)
        except FileNotFoundError:  # shared filesystem: another node renamed it
            pass
        for _, old in checkpoint_dirs(output_dir)[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
    dist.barrier()
    return final


def load_resume_state(ckpt: Path, model, optimizer, scheduler, env: DistEnv) -> dict:
    """Restore optimizer (resharded if needed), scheduler and RNG; returns trainer.json."""
    state = json.loads((ckpt / "resume" / "trainer.json").read_text())
    osd = get_optimizer_state_dict(model, optimizer)  # initialises the (empty) AdamW state
    holder = {"optimizer": osd}
    dcp.load(holder, checkpoint_id=str(ckpt / "resume" / "optimizer"))
    set_optimizer_state_dict(model, optimizer, holder["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    rng_file = ckpt / "resume" / f"rng_rank{env.rank}.pt"
    if state.get("world_size") == env.world_size and rng_file.is_file():
        st = load_rng_file(rng_file)
        if st is not None:
            set_rng_state(st)
    return state
