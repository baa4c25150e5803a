"""What decides whether two same-seed runs give bit-identical losses, recorded with every stage
result, in the step cache key and in the registry lineage.

On one machine a stage is bitwise reproducible when these match (the data and config aside):
world size (FSDP2 shards and the order of gradient reduction), intra-op threads per rank (CPU
kernels split reductions by thread count; torchrun pins 1), the torch build and the CPU's vector
ISA (oneDNN/ATen choose kernels by AVX2/AVX-512/AMX, each summing in its own order), and on GPU
the CUDA/cuDNN versions. CPU load is not among them: it changes timing only
(tests/training/test_determinism.py). Across machines with a different ISA, losses agree to
float32 rounding, not bitwise.
"""

from __future__ import annotations

import os


def fingerprint(world_size: int | None = None) -> dict:
    import torch

    fp = {"torch": torch.__version__, "intra_op_threads": torch.get_num_threads(),
          "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
          "cpu_capability": torch.backends.cpu.get_cpu_capability()}
    if world_size is not None:
        fp["world_size"] = world_size
    if torch.cuda.is_available():
        fp["cuda"] = torch.version.cuda
        fp["cudnn"] = torch.backends.cudnn.version()
    return fp


def launch_fingerprint() -> dict:
    """The parent-side part (before torchrun starts the ranks): what the step cache key holds.
    torchrun sets OMP_NUM_THREADS=1 per rank unless the environment sets it."""
    import torch

    return {"torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "1 (torchrun)")}
