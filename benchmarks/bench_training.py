"""Training throughput on this machine, all measured in one run (no stored baselines):

  1. tokens/s with sample packing vs without, on a stage-2-like mix (speech QA / transcription /
     text), 2 ranks, the `local` profile's model and stage-2 settings (target: packed >= 1.5x);
  2. step time with 1 rank vs 2 ranks at the same global batch (packed).

    .venv/bin/python benchmarks/bench_training.py [--steps 30] [--out DIR]

tokens/s counts real (non-padding) tokens; the first 20% of steps (start-up) are left out.
"""

from __future__ import annotations

import argparse
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


def measure(profile, model_dir, data_dir, out: Path, nproc: int, steps: int, pack: bool,
            pdb: int, accum: int) -> dict:
    st = profile.training.stages["stage2"]
    stages = {k: v.model_dump() for k, v in profile.training.stages.items()}
    for v in stages.values():  # the profile checks every stage against the world size
        v.update(per_device_batch=pdb, grad_accum=accum, global_batch=pdb * accum * nproc)
    stages["stage2"].update(steps=steps, warmup_steps=1, pack=pack, per_device_batch=pdb, grad_accum=accum,
                            global_batch=pdb * accum * nproc, checkpoint_every=0)
    prof = load_profile("local", overrides={"training": {"procs_per_node": nproc, "stages": stages}})
    job = StageJob.from_profile(prof, "stage2", model_dir, data_dir, out)
    t0 = time.time()
    torchrun.run(job)
    rows = read_metrics(out)[max(1, steps // 5):]
    step_s = statistics.median(r["step_s"] for r in rows)
    tok = sum(r["tokens"] for r in rows) / sum(r["step_s"] for r in rows)
    return {"ranks": nproc, "pack": pack, "batch": f"{pdb}x{accum}x{nproc}", "seq": st.max_seq_len,
            "step_s": step_s, "tokens_per_s": tok, "tokens_per_step": statistics.mean(r["tokens"] for r in rows),
            "wall_s": time.time() - t0}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--rows", type=int, default=3000)
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    root = a.out or Path(tempfile.mkdtemp(prefix="bench_training_"))
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
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
