"""Registration, aliases, promotion, rollback and resolution against the real MLflow server
(Postgres backend store, SeaweedFS S3 artifacts) started by tests/services.py."""

from __future__ import annotations

import json

import pytest
from mlflow import MlflowClient

from ichigo.errors import InputError
from ichigo.package import read_package_info
from ichigo.registry import (
    alias_log, champion_metrics, promote, register_candidate, resolve_package, rollback,
    set_alias,
)
from ichigo.registry.lineage import sha256_file
from tests.registry.conftest import make_lineage

pytestmark = [pytest.mark.services, pytest.mark.slow]


def _register(registry, package, gate_report, run_id, wer=0.4):
    return register_candidate(registry, package, {"wer": wer, "speech_qa": 2.5}, make_lineage(run_id, wer),
                              [gate_report], None)


def test_register_records_lineage_metrics_and_artifacts_on_s3(registry, small_package, gate_report,
                                                              mlflow_server):
    v = _register(registry, small_package, gate_report, "kfp-run-1")
    assert (v.name, v.version, v.created) == (registry.model_name, "1", True)
    assert v.uri == f"models:/{registry.model_name}/1"

    client = MlflowClient(mlflow_server.tracking_uri)
    mv = client.get_model_version_by_alias(registry.model_name, "challenger")
    assert mv.version == "1" and mv.run_id == v.run_id
    tags = mv.tags
    assert tags["ichigo.pipeline_run_id"] == "kfp-run-1"
    assert tags["ichigo.git_sha"] == "0123456789abcdef0123456789abcdef01234567"
    assert tags["ichigo.git_dirty"] == "false"
    assert tags["ichigo.lineage_hash"] == make_lineage("kfp-run-1").hash()
    assert tags["ichigo.registered_by"] and tags["ichigo.registered_at"].startswith("20")
    assert tags["ichigo.data.stages/stage2/manifest.json"] == "ab" * 32
    assert "## Limits" in mv.description and "kfp-run-1" in mv.description

    run = client.get_run(v.run_id)
    assert run.data.metrics == {"wer": 0.4, "speech_qa": 2.5}
    assert run.data.params["stage2.lr"] == "0.001" and run.info.status == "FINISHED"
    names = {a.path for a in client.list_artifacts(v.run_id)}
    assert {"lineage.json", "model_card.md", "gate"} <= names
    lineage = json.loads(open(client.download_artifacts(v.run_id, "lineage.json")).read())
    assert lineage["gate_report"]["passed"] is True and lineage["model_card"].startswith("# ")

    # the package itself sits in the S3 bucket behind the server, byte for byte
    model_id = mv.source.rsplit("/", 1)[-1]  # models:/m-<id>: the logged model of this version
    keys = [k for k in mlflow_server.s3.keys("mlflow/") if model_id in k or v.run_id in k]
    weights = [k for k in keys if k.endswith("artifacts/package/llm/model.safetensors")]
    assert len(weights) == 1, keys
    assert any(k.endswith("artifacts/package/package.json") for k in keys)
    assert any(k.endswith("gate/gate_report.json") for k in keys)
    import hashlib

    body = mlflow_server.s3.client().get_object(Bucket=mlflow_server.s3.bucket, Key=weights[0])["Body"].read()
    assert hashlib.sha256(body).hexdigest() == sha256_file(small_package / "llm" / "model.safetensors")


def test_same_lineage_registers_once(registry, small_package, gate_report, mlflow_server):
    first = _register(registry, small_package, gate_report, "kfp-run-A")
    again = _register(registry, small_package, gate_report, "kfp-run-A")
    assert again.version == first.version and again.created is False
    other = _register(registry, small_package, gate_report, "kfp-run-B")
    assert other.version != first.version and other.created
    versions = MlflowClient(mlflow_server.tracking_uri).search_model_versions(f"name = '{registry.model_name}'")
    assert sorted(m.version for m in versions) == ["1", "2"]
    assert registry.get_version_by_alias("challenger").version == other.version


def test_alias_to_a_missing_version_is_refused(registry, small_package, gate_report):
    v = _register(registry, small_package, gate_report, "kfp-run-1")
    with pytest.raises(InputError, match="has no version 7"):
        set_alias(registry, "champion", 7)
    with pytest.raises(InputError, match="has no version 9"):
        promote(registry, 9)
    assert registry.get_version_by_alias("champion") is None
    assert champion_metrics(registry) is None
    promote(registry, v.version)
    assert registry.get_version_by_alias("champion").version == v.version


def test_promote_rollback_and_champion_metrics(registry, small_package, gate_report, mlflow_server):
    v1 = _register(registry, small_package, gate_report, "r1", wer=0.5)
    v2 = _register(registry, small_package, gate_report, "r2", wer=0.3)
    v3 = _register(registry, small_package, gate_report, "r3", wer=0.2)
    promote(registry, v1.version)
    promote(registry, v2.version)
    assert champion_metrics(registry)["wer"] == 0.3
    # an ML lead promotes v3 by hand in the MLflow UI: nothing of ours sees it happen
    MlflowClient(mlflow_server.tracking_uri).set_registered_model_alias(registry.model_name, "champion", v3.version)
    assert champion_metrics(registry)["wer"] == 0.2
    assert rollback(registry).version == v2.version
    assert rollback(registry, reason="latency").version == v1.version
    with pytest.raises(InputError, match="no earlier holder"):
        rollback(registry)
    assert registry.get_version_by_alias("champion").version == v1.version
    log = alias_log(registry, "champion")
    assert [(e["action"], e["version"]) for e in log] == [
        ("promote", "1"), ("promote", "2"), ("observed", "3"), ("rollback", "2"), ("rollback", "1")]
    assert log[-1]["detail"] == "from 2: latency" and log[-1]["by"]
    tags = MlflowClient(mlflow_server.tracking_uri).get_model_version(registry.model_name, "2").tags
    assert "ichigo.rolled_back.champion" in tags and "ichigo.promoted.champion" in tags


def test_rollback_without_a_champion_is_refused(registry, small_package, gate_report):
    _register(registry, small_package, gate_report, "r1")
    with pytest.raises(InputError, match="not set"):
        rollback(registry)


def test_resolve_package_by_alias_and_cache(registry, small_package, gate_report, tmp_path, monkeypatch):
    v = _register(registry, small_package, gate_report, "r1")
    uri = f"models:/{registry.model_name}@challenger"
    pkg = resolve_package(registry, uri, tmp_path / "cache")
    assert read_package_info(pkg).speech_tokenizer_backend == "codebook"
    for rel in ("llm/model.safetensors", "llm/config.json", "speech_tokenizer/codebook.npz"):
        assert sha256_file(pkg / rel) == sha256_file(small_package / rel)
    assert pkg.relative_to(tmp_path / "cache").parts[:2] == (registry.model_name, v.version)

    import mlflow.artifacts

    def no_network(**kw):
        raise AssertionError("a resolved version must be served from the cache")

    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", no_network)
    assert resolve_package(registry, f"models:/{registry.model_name}/{v.version}", tmp_path / "cache") == pkg

    with pytest.raises(InputError, match="does not resolve"):
        resolve_package(registry, f"models:/{registry.model_name}@champion", tmp_path / "cache")
    with pytest.raises(InputError, match="not a registry model URI"):
        resolve_package(registry, "s3://bucket/model", tmp_path / "cache")
