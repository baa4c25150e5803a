"""Where things live on disk: the repo, ../shared (schemas), and run work directories."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_dir() -> Path:
    """`../shared` beside the checkout (CRD schemas, docs); override with ICHIGO_SHARED_DIR."""
    return Path(os.environ.get("ICHIGO_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()


def schemas_dir() -> Path:
    return Path(os.environ.get("ICHIGO_SCHEMAS_DIR", shared_dir() / "schemas")).resolve()


def default_workdir() -> Path:
    """Where `ichigo run` keeps artifacts, caches and the local MLflow store."""
    return Path(os.environ.get("ICHIGO_WORKDIR", REPO_ROOT / "runs")).resolve()
