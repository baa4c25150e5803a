"""Rendered manifests shared by the deploy tests (rendered once per session)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# tests/conftest.py's need()/need_binary(), importable as `conftest` from these test modules too
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.conftest import need_binary  # noqa: E402


@pytest.fixture(scope="session")
def render_text(shared_dir) -> dict[str, str]:
    """source ('kustomize:dev', 'helm:values.yaml', ...) -> rendered YAML."""
    need_binary("kubectl")
    need_binary("helm")
    from ichigo.deploy.validate import all_renders

    return all_renders()


@pytest.fixture(scope="session")
def renders(render_text) -> dict[str, list[dict]]:
    from ichigo.deploy.validate import parse_docs

    return {k: parse_docs(v) for k, v in render_text.items()}
