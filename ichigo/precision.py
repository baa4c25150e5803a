"""Which dtype training really computes in: the one rule for `training.dtype`.

bf16 means: fp32 master weights, gradients and AdamW state (FSDP2's MixedPrecisionPolicy casts
the all-gathered parameters to bf16 for compute and reduces gradients in fp32), so small updates
to the embedding rows of the 515 new tokens are not rounded away. On CUDA it is always available.
On a CPU it is used only where the CPU has native bf16 matmuls (AMX or AVX512-BF16: ~2x faster
than fp32 on these machines); elsewhere bf16 would be emulated and slower, so the run falls back
to fp32 and says so.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import torch

BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")


@lru_cache(maxsize=1)
def cpu_bf16_flags() -> tuple[str, ...]:
    """The bf16 instruction sets this CPU advertises (Linux /proc/cpuinfo; torch's capability
    string as a fallback, which names AMX as "AVX512_BF16"-class "AMX" only on newer builds)."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
        return tuple(f for f in BF16_CPU_FLAGS if f in flags)
    except OSError:
        cap = str(torch.backends.cpu.get_cpu_capability()).lower()
        return ("amx_bf16",) if "amx" in cap else ()


def cpu_supports_bf16() -> bool:
    return bool(cpu_bf16_flags())


def training_bf16(device: str, dtype: str) -> bool:
    """True when a run configured with (`device`, `dtype`) computes in bf16 on this machine."""
    if dtype != "bf16":
        return False
    return device == "cuda" or cpu_supports_bf16()


def describe(device: str, dtype: str) -> str:
    if not training_bf16(device, dtype):
        if dtype == "bf16":
            return (f"fp32 (bf16 asked, but this CPU has none of {list(BF16_CPU_FLAGS)}: emulated "
                    "bf16 would be slower)")
        return "fp32"
    where = device if device == "cuda" else f"cpu with {'+'.join(cpu_bf16_flags())}"
    return f"bf16 compute, fp32 master weights and gradient reduction ({where})"
