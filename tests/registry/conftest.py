"""Registry fixtures: a small real package, a lineage factory, and a registry config per test
(its own registered model name) against the session's MLflow + Postgres + S3 servers, with
the client built from it."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from ichigo.config import RegistryConfig
from ichigo.package import write_package
from ichigo.registry.client import RegistryClient
from ichigo.registry.lineage import CodeVersion, DataManifest, Lineage


@pytest.fixture(scope="session")
def small_package(tiny_llm_dir, tmp_path_factory) -> Path:
    """`write_package` of the tiny LLM with a small file standing in for the speech tokenizer."""
    root = tmp_path_factory.mktemp("small_package")
    st = root / "codebook.npz"
    st.write_bytes(b"speech tokenizer checkpoint bytes " * 64)
    return write_package(root / "package", tiny_llm_dir, st, "codebook", lineage={"test": True})


def make_lineage(run_id: str, wer: float = 0.4, **kw) -> Lineage:
    return Lineage(
        pipeline_run_id=run_id,
        code=CodeVersion("0123456789abcdef0123456789abcdef01234567", False),
        data_manifests=[DataManifest("stages/stage2/manifest.json", "/data/stage2/manifest.json", "ab" * 32)],
        stage_configs={"stage2": {"steps": 300, "lr": 0.001, "global_batch": 16, "max_seq_len": 384}},
        eval_metrics={"wer": wer},
        gate_report={"passed": True, "reasons": [f"wer {wer} <= 0.8"]},
        profile="local",
        **kw,
    )


@pytest.fixture
def gate_report(tmp_path) -> Path:
    p = tmp_path / "gate_report.json"
    p.write_text(json.dumps({"passed": True, "reasons": ["all checks passed"]}))
    return p


@pytest.fixture
def registry_cfg(mlflow_server, tmp_path) -> RegistryConfig:
    return RegistryConfig(tracking_uri=mlflow_server.tracking_uri, model_name=f"ichigo-test-{uuid.uuid4().hex[:8]}",
                          experiment="ichigo-registry-tests", retries=2, retry_backoff_seconds=0.05,
                          cache_dir=str(tmp_path / "cache"))


@pytest.fixture
def registry(registry_cfg) -> RegistryClient:
    return RegistryClient(registry_cfg)
