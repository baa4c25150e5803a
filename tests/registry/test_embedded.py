"""The embedded profile's registry: MLflow on a local sqlite file, artifacts beside it, no server."""

from __future__ import annotations

import pytest

from ichigo.config import RegistryConfig
from ichigo.registry import RegistryClient, champion_metrics, promote, register_candidate, resolve_package
from ichigo.registry.lineage import sha256_file
from tests.registry.conftest import make_lineage


@pytest.mark.slow
def test_register_promote_resolve_on_sqlite(small_package, gate_report, tmp_path):
    (tmp_path / "reg").mkdir()
    reg = RegistryClient(RegistryConfig(tracking_uri=f"sqlite:///{tmp_path}/reg/mlflow.db",
                                        cache_dir=str(tmp_path / "cache")))
    v = register_candidate(reg, small_package, {"wer": 0.4, "label": "ignored"}, make_lineage("local-run"),
                           [gate_report])
    assert (tmp_path / "reg" / "mlartifacts").is_dir()  # artifacts beside the database
    assert champion_metrics(reg) is None
    promote(reg, v.version)
    assert champion_metrics(reg) == {"wer": 0.4}
    pkg = resolve_package(reg, f"models:/{reg.model_name}@champion")
    assert pkg.is_relative_to(tmp_path / "cache")
    assert sha256_file(pkg / "llm/model.safetensors") == sha256_file(small_package / "llm/model.safetensors")
