"""The embedded profile's registry: MLflow on a local sqlite file, artifacts beside it, no server."""

from __future__ import annotations

import pytest

from ichigo.config import RegistryConfig
from ichigo.registry import champion_metrics, promote, register_candidate, resolve_package
from ichigo.registry.lineage import sha256_file
from tests.registry.conftest import make_lineage


@pytest.mark.slow
def test_register_promote_resolve_on_sqlite(small_package, gate_report, tmp_path):
    cfg = RegistryConfig(tracking_uri=f"sqlite:///{tmp_path}/reg/mlflow.db", cache_dir=str(tmp_path / "cache"))
    (tmp_path / "reg").mkdir()
    v = register_candidate(cfg, small_package, {"wer": 0.4, "label": "ignored"}, make_lineage("local-run"),
                           [gate_report])
    assert (tmp_path / "reg" / "mlartifacts").is_dir()  # artifacts beside the database
    assert champion_metrics(cfg) is None
    promote(cfg, v.version)
    assert champion_metrics(cfg) == {"wer": 0.4}
    pkg = resolve_package(cfg, f"models:/{cfg.model_name}@champion")
    assert pkg.is_relative_to(tmp_path / "cache")
    assert sha256_file(pkg / "llm/model.safetensors") == sha256_file(small_package / "llm/model.safetensors")
