"""An embedded run keeps its MLflow artifacts beside the database, wherever the step runs."""

from pathlib import Path

from ichigo.config import RegistryConfig
from ichigo.tracking import artifact_location, experiment_id


def test_embedded_artifacts_sit_beside_the_database(tmp_path, monkeypatch):
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)  # kfp.local runs a step in whatever directory the run started in
    cfg = RegistryConfig(tracking_uri=f"sqlite:///{tmp_path}/runs/mlflow.db")
    (tmp_path / "runs").mkdir()
    assert artifact_location(cfg) == (tmp_path / "runs" / "mlartifacts").as_uri()
    import mlflow

    exp = mlflow.MlflowClient(cfg.tracking_uri).get_experiment(experiment_id(cfg))
    assert exp.artifact_location == (tmp_path / "runs" / "mlartifacts").as_uri()
    assert not (other / "mlruns").exists()


def test_server_and_explicit_locations():
    assert artifact_location(RegistryConfig(tracking_uri="http://mlflow:5000")) is None
    assert artifact_location(RegistryConfig(tracking_uri="http://m", artifact_location="s3://b/x")) == "s3://b/x"
    assert Path(artifact_location(RegistryConfig(tracking_uri="sqlite:///a/b.db"))[7:]).name == "mlartifacts"
