"""Helpers that the component functions import at run time (inside the container/subprocess)."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

from ichigo.config import Profile

# The components image; kfp.local's SubprocessRunner ignores it.
IMAGE = "ghcr.io/ichigo-platform/components:0.1.0"


def step_profile(settings: str, view: str) -> Profile:
    """The profile a step runs with: its view's settings; reading any other setting raises."""
    from ichigo.config.steps import step_profile as rebuild

    return rebuild(settings, view)


def as_dict(obj: Any) -> dict:
    if dataclasses.is_dataclass(obj):
        return json.loads(json.dumps(dataclasses.asdict(obj), default=str))
    if isinstance(obj, dict):
        return json.loads(json.dumps(obj, default=str))
    if obj is None:
        return {}
    return {"value": str(obj)}


def model_dir(path: str | Path) -> Path:
    """The HF model dir inside a Model artifact: `extended/` for the prepared base, the recorded
    `hf_subdir` for a trained stage."""
    p = Path(path)
    if (p / "extended").is_dir():
        return p / "extended"
    return (p / step_summary(p).get("hf_subdir", ".")).resolve()


def step_summary(path: str | Path) -> dict:
    from ichigo.cache import STEP_FILE

    f = Path(path) / STEP_FILE
    return json.loads(f.read_text()).get("summary", {}) if f.is_file() else {}


def quiet_logs() -> None:
    for name in ("mlflow", "alembic", "urllib3", "botocore"):
        logging.getLogger(name).setLevel(logging.WARNING)
