"""Compile the pipeline to KFP IR YAML (checked in under pipelines/compiled/, kept in sync by a test)."""

from __future__ import annotations

from pathlib import Path

from ichigo.config import Profile, load_profile

COMPILED_DIR = Path(__file__).resolve().parent / "compiled"
COMPILED_PROFILES = ("local", "h100")


def compiled_path(profile_name: str) -> Path:
    return COMPILED_DIR / f"ichigo_{profile_name}.yaml"


def compile_pipeline(profile: Profile, output: str | Path) -> Path:
    """The profile is baked in as the defaults of the per-step settings parameters, so a
    submitted run needs no args."""
    from kfp import compiler

    from pipelines.ichigo_pipeline import build_pipeline, pipeline_arguments

    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    from ichigo.data.corpus_plan import synthesis_gpus

    compiler.Compiler().compile(build_pipeline(synthesis_gpus(profile)), str(out),
                                pipeline_parameters=pipeline_arguments(profile))
    return out


def compile_all() -> list[Path]:
    return [compile_pipeline(load_profile(name), compiled_path(name)) for name in COMPILED_PROFILES]
