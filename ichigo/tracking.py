"""MLflow runs for pipeline steps: opened here, written by whoever does the work (e.g. the
training recipe on rank 0 via MLFLOW_RUN_ID), closed with the step's outcome; and what the
gate step records in its run (log_gate)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Iterator, Mapping

from ichigo.config.sections import RegistryConfig


def _client(cfg: RegistryConfig):
    import mlflow

    if cfg.s3_endpoint_url:
        os.environ.setdefault("MLFLOW_S3_ENDPOINT_URL", cfg.s3_endpoint_url)
    # explicit URIs, no mlflow.set_tracking_uri: a process-wide default would also become the
    # registry of every later MlflowClient() built without one (MLflow falls back to it)
    return mlflow.MlflowClient(tracking_uri=cfg.tracking_uri, registry_uri=cfg.tracking_uri)


def artifact_location(cfg: RegistryConfig) -> str | None:
    """Where a new experiment keeps its artifacts: the profile's choice; for an embedded sqlite
    store, beside the database file (MLflow's default, ./mlruns under whatever directory the step
    ran in, would scatter the registry's packages outside the run's workdir)."""
    from urllib.parse import urlparse

    from ichigo.paths import default_workdir

    if cfg.artifact_location:
        return cfg.artifact_location.replace("{workdir}", str(default_workdir()))
    uri = cfg.tracking_uri
    scheme = urlparse(uri).scheme
    if scheme in ("http", "https"):
        return None  # the server decides (--artifacts-destination / --default-artifact-root)
    if scheme == "sqlite" and uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///"):]).resolve().parent / "mlartifacts").as_uri()
    return (default_workdir() / "mlartifacts").as_uri()


def experiment_id(cfg: RegistryConfig) -> str:
    client = _client(cfg)
    exp = client.get_experiment_by_name(cfg.experiment)
    if exp is not None:
        return exp.experiment_id
    return client.create_experiment(cfg.experiment, artifact_location=artifact_location(cfg))


@contextlib.contextmanager
def tracking_run(cfg: RegistryConfig, run_name: str, params: dict | None = None,
                 tags: dict | None = None) -> Iterator[dict[str, str]]:
    """Yields the env that lets a subprocess log into this run; marks it FINISHED or FAILED."""
    client = _client(cfg)
    run = client.create_run(experiment_id(cfg), run_name=run_name,
                            tags={"ichigo.step": run_name, **(tags or {})})
    for k, v in (params or {}).items():
        client.log_param(run.info.run_id, k, v)
    env = {"MLFLOW_TRACKING_URI": cfg.tracking_uri, "MLFLOW_RUN_ID": run.info.run_id,
           "MLFLOW_EXPERIMENT_ID": run.info.experiment_id}
    try:
        yield env
    except BaseException:
        client.set_terminated(run.info.run_id, "FAILED")
        raise
    client.set_terminated(run.info.run_id, "FINISHED")


def log_gate(cfg: RegistryConfig, passed: bool, metrics: Mapping[str, float],
             curve: Mapping[str, Mapping[str, float]], judge: str | None, report_dir: str | Path) -> None:
    """A `gate` run, passed or not (so a rejection is visible in MLflow too): the candidate's
    metrics, the retention curve as one `retention/<benchmark>` metric per benchmark with step =
    stage index (0 = the base), the speech-QA judge, and the report files under gate_report/."""
    from mlflow.entities import Metric

    from ichigo.eval.curve import STAGES as CURVE_POINTS

    with tracking_run(cfg, "gate", tags={"ichigo.gate.passed": str(passed)}) as env:
        client, run_id = _client(cfg), env["MLFLOW_RUN_ID"]
        client.log_batch(run_id, metrics=[Metric(k, v, 0, 0) for k, v in metrics.items()])
        client.log_batch(run_id, metrics=[Metric(f"retention/{name}", v, 0, CURVE_POINTS.index(stage))
                                          for name, row in curve.items() for stage, v in row.items()])
        if judge:
            client.set_tag(run_id, "ichigo.eval.judge", judge)
        client.log_artifacts(run_id, str(report_dir), "gate_report")
