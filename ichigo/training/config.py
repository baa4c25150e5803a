"""The recipe's config file: one typed YAML file per stage run (torchtune-style: a header comment
with the exact launch command, then plain sections). The model and its rules are
`ichigo.config.recipe` (a profile's stage settings are a partial of it); this module reads and
writes the file."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from ichigo.config.recipe import (  # noqa: F401 (re-exported: the recipe's config in one import)
    STAGES, CheckpointSection, DataSection, MetricsSection, OptimizerConfig, RecipeConfig,
    SchedulerConfig, Stage,
)
from ichigo.config.validation import validate, yaml_mapping
from ichigo.errors import ConfigError


def parse_config(raw: dict, source: str = "<config>") -> RecipeConfig:
    return validate(RecipeConfig, raw, source, "training config")


def load_config(spec: str) -> RecipeConfig:
    """`spec` is a YAML path, or `env:NAME` for YAML text in an environment variable (how a
    TrainJob passes it: no ConfigMap needed)."""
    if spec.startswith("env:"):
        name = spec[4:]
        if name not in os.environ:
            raise ConfigError(f"--config {spec}: environment variable {name} is not set")
        text, source = os.environ[name], spec
    else:
        p = Path(spec)
        if not p.is_file():
            raise ConfigError(f"training config {p} does not exist")
        text, source = p.read_text(), str(p)
    return parse_config(yaml_mapping(text, source, "training config"), source)


def launch_command(nproc: int, config_path: str) -> str:
    return f"torchrun --standalone --nproc_per_node {nproc} -m ichigo.training.recipe --config {config_path}"


def dump_config(cfg: RecipeConfig, path: str | Path, nproc: int, description: str = "") -> Path:
    """Write `cfg` as YAML with a header comment showing the exact launch command."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    header = [f"# Ichigo {cfg.stage} training config (written by ichigo.training.launch).",
              *(f"# {line}" for line in description.splitlines() if line),
              "# Launch:", f"#   {launch_command(nproc, str(p))}", ""]
    body = yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text("\n".join(header) + body)
    os.replace(tmp, p)
    return p
