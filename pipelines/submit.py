"""Submit a compiled pipeline to a KFP backend with kfp.Client."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class SubmittedRun:
    run_id: str
    url: str


def submit(package: str | Path, host: str, experiment: str = "ichigo", run_name: str | None = None,
           namespace: str | None = None, token: str | None = None,
           arguments: dict | None = None, service_account: str | None = "ichigo-pipeline") -> SubmittedRun:
    """`service_account`: the pipeline pods' identity; `ichigo-pipeline` may create TrainJobs
    (manifests/base/rbac.yaml, ichigo/deploy/permissions.py)."""
    import kfp

    package = Path(package)
    if not package.is_file():
        raise FileNotFoundError(f"{package} not found: run `ichigo compile` first")
    client = kfp.Client(host=host, namespace=namespace, existing_token=token)
    result = client.create_run_from_pipeline_package(
        str(package), arguments=arguments or {}, run_name=run_name, experiment_name=experiment,
        namespace=namespace, service_account=service_account)
    return SubmittedRun(result.run_id, f"{host.rstrip('/')}/#/runs/details/{result.run_id}")
