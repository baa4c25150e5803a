"""What a backend is asked to run: one stage's recipe config and where to run it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ichigo.config import ClusterConfig, Profile
from ichigo.config.recipe import RecipeConfig


@dataclass(frozen=True)
class StageJob:
    recipe: RecipeConfig
    procs_per_node: int
    nodes: int = 1
    cluster: ClusterConfig = ClusterConfig()  # trainjob: namespace, image, GPU placement

    @property
    def stage(self) -> str:
        return self.recipe.stage

    @classmethod
    def from_profile(cls, profile: Profile, stage: str, model_dir: str | Path, data_dir: str | Path,
                     out_dir: str | Path) -> "StageJob":
        from ichigo.errors import ConfigError

        tr = profile.training
        if stage not in tr.stages:
            raise ConfigError(f"unknown stage {stage!r}: the profile defines {sorted(tr.stages)}")
        try:
            cfg = tr.recipe_config(stage, str(model_dir), str(data_dir), str(out_dir))
        except ValueError as e:  # the profile was validated; a path or a --set can still be wrong
            raise ConfigError(f"training stage {stage}: {e}") from None
        return cls(cfg, tr.procs_per_node, tr.nodes, profile.cluster)


HUGETLB_TUNABLE = "glibc.malloc.hugetlb=1"


def recipe_env(env: Mapping[str, str]) -> dict[str, str]:
    """What the recipe's processes get on top of `env`. glibc's malloc serves each step's large
    buffers (logits, activations) from fresh mmaps, faulted in 4 KiB at a time; with its hugetlb
    tunable it asks for transparent huge pages on them. SmolLM2 on CPU: ~30x fewer page faults,
    1.08-1.15x tokens/s in two runs, the same losses (benchmarks/bench_training.py --only memory).
    A glibc older than 2.35 ignores the tunable; one the user set wins."""
    tunables = env.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb" in tunables:
        return {}
    return {"GLIBC_TUNABLES": ":".join(t for t in (tunables, HUGETLB_TUNABLE) if t)}
