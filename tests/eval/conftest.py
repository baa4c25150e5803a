"""Fixtures for the evaluation tests: a small eval set with audio, and a healthy tiny model."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.eval.eval_helpers import build_eval_set, label_shuffled_copy, train_healthy


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Tiny models on a shared 2-core box: a second intra-op thread only adds contention
    (measured 10-20x slower steps under load)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def eval_set(tmp_path_factory) -> dict:
    return build_eval_set(tmp_path_factory.mktemp("evalset"))


@pytest.fixture(scope="session")
def healthy_llm_dir(tiny_llm_dir, eval_set, tmp_path_factory) -> Path:
    return train_healthy(tiny_llm_dir, eval_set, tmp_path_factory.mktemp("healthy") / "llm")


@pytest.fixture(scope="session")
def degraded_llm_dir(healthy_llm_dir, tmp_path_factory) -> Path:
    return label_shuffled_copy(healthy_llm_dir, tmp_path_factory.mktemp("degraded") / "llm")
