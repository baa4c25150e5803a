"""Tiny stage datasets (random sound codes) and a tiny-run profile for the training tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from ichigo.training.synthetic import write_synthetic_stage


@pytest.fixture(scope="session")
def stage_data(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("stage_data")
    return {st: write_synthetic_stage(root / st, st, 160, seed=i, scale=0.5)
            for i, st in enumerate(("stage1", "stage2", "stage3"))}
