"""Helpers for the training tests."""

from __future__ import annotations

from ichigo.config import load_profile


def tiny_profile(procs: int = 2, steps: int = 6, every: int = 0, pdb: int = 4, accum: int = 1,
                 max_seq_len: int = 128, launcher: str = "torchrun", ac: bool = False):
    stage = {"steps": steps, "global_batch": pdb * accum * procs, "per_device_batch": pdb,
             "grad_accum": accum, "lr": 2e-3, "warmup_steps": 1, "max_seq_len": max_seq_len,
             "checkpoint_every": every}
    return load_profile("local", overrides={"training": {
        "launcher": launcher, "procs_per_node": procs, "activation_checkpointing": ac,
        "stages": {s: dict(stage, train_on_input=(s != "stage3")) for s in ("stage1", "stage2", "stage3")}}})
