"""Shared test helpers.

`need(ok, reason)`: a test that depends on a service, a binary or ../shared skips with the reason
on a laptop, but fails under CI (CI=true), where everything must be there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need(ok: bool, reason: str) -> None:
    if ok:
        return
    if IN_CI:
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason)


def need_binary(name: str) -> str:
    path = shutil.which(name) or (str(REPO / ".venv/bin" / name) if (REPO / ".venv/bin" / name).exists() else None)
    need(path is not None, f"{name} is not installed (run scripts/bootstrap.sh)")
    return path  # type: ignore[return-value]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    from ichigo.paths import shared_dir as _shared

    d = _shared()
    need(d.is_dir(), f"../shared not found at {d} (set ICHIGO_SHARED_DIR)")
    return d
