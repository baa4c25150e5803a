"""The cluster path: TrainJob object vs the Trainer v2.3.0 CRD, and the submit/wait/logs loop
against a local fake of the Kubernetes API (success and failure)."""

from __future__ import annotations

import json

import pytest

from ichigo.deploy.crd_schema import validate_custom_resource
from ichigo.deploy.permissions import allowed
from ichigo.errors import ConfigError
from ichigo.training.backends.job import StageJob
from ichigo.training.backends.trainjob import (
    KubeBackend, SERVICE_ACCOUNT, build_trainjob, job_state, trainjob_name,
)
from ichigo.training.launch import run_stage
from ichigo.training.results import TrainingFailed
from tests.conftest import need
from tests.training.fake_kube import FAILURE, SUCCESS, FakeKube

S3 = "s3://ichigo-data/runs/r1"


@pytest.fixture
def h100():
    from ichigo.config import load_profile

    return load_profile("h100")


def _job(profile, stage="stage2"):
    return StageJob.from_profile(profile, stage, f"{S3}/stage1/model", f"{S3}/data/{stage}", f"{S3}/{stage}")


def test_trainjob_matches_the_crd(h100, shared_dir):
    need((shared_dir / "schemas/kubeflow-trainer-v2/trainer.kubeflow.org_trainjobs.yaml").is_file(),
         "Trainer v2 CRD schema missing from ../shared/schemas")
    job = _job(h100)
    obj = build_trainjob(job, env={"MLFLOW_RUN_ID": "abc"})
    assert validate_custom_resource(obj) == []
    spec = obj["spec"]
    assert spec["runtimeRef"] == {"apiGroup": "trainer.kubeflow.org", "kind": "ClusterTrainingRuntime",
                                  "name": "ichigo-torch-distributed"}
    tr = spec["trainer"]
    assert tr["numNodes"] == 1 and tr["numProcPerNode"] == 8 and isinstance(tr["numProcPerNode"], int)
    assert tr["resourcesPerNode"]["limits"] == {"nvidia.com/gpu": 8}
    assert tr["command"][:3] == ["torchrun", "-m", "ichigo.training.recipe"]
    env = {e["name"]: e["value"] for e in tr["env"]}
    assert env["ICHIGO_OUTPUT_URI"] == f"{S3}/stage2" and env["MLFLOW_RUN_ID"] == "abc"
    assert env["GLIBC_TUNABLES"] == "glibc.malloc.hugetlb=1"  # the same process env as torchrun's
    pod = spec["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"][0]
    assert pod["name"] == "node"
    ps = pod["template"]["spec"]["template"]["spec"]
    assert ps["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert ps["tolerations"][0]["key"] == "nvidia.com/gpu"
    # the config the pods run is the stage's, and it round-trips through the env var
    import yaml

    from ichigo.training.config import parse_config

    assert parse_config(yaml.safe_load(env["ICHIGO_TRAIN_CONFIG"])) == job.recipe
    # validation can fail: a string numProcPerNode / an unknown field are rejected
    bad = json.loads(json.dumps(obj))
    bad["spec"]["trainer"]["numProcPerNode"] = "8"
    bad["spec"]["trainer"]["gpus"] = 8
    errs = validate_custom_resource(bad)
    assert any("numProcPerNode" in e for e in errs) and any("gpus" in e for e in errs)


def test_local_paths_are_rejected_for_a_trainjob(h100, tmp_path):
    job = StageJob.from_profile(h100, "stage1", tmp_path, tmp_path, tmp_path)
    with pytest.raises(ConfigError, match="s3://"):
        build_trainjob(job)


def test_job_state_reads_conditions():
    assert job_state({}).phase == "Pending"
    assert job_state({"status": {"conditions": SUCCESS[2]}}).phase == "Running"
    s = job_state({"status": {"conditions": FAILURE[-1]}})
    assert s.failed and s.reason == "FailedJobs" and "OOMKilled" in s.message


@pytest.fixture
def s3(monkeypatch):
    from moto import mock_aws

    for k in ("AWS_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        import boto3

        client = boto3.client("s3")
        client.create_bucket(Bucket="ichigo-data")
        yield client


def _backend(fake: FakeKube, lines: list[str]) -> KubeBackend:
    from kubernetes import client

    return KubeBackend(api_client=client.ApiClient(client.Configuration(host=fake.url)), poll_s=0.02,
                       timeout_s=30, log=lines.append)


def _assert_rbac(calls):
    grants = allowed(SERVICE_ACCOUNT)
    assert calls
    for group, resource, verb in calls:
        assert verb in grants.get((group, resource), ()), f"{verb} {group}/{resource} not granted"


def test_trainjob_success_streams_logs_and_returns_the_result(h100, s3):
    result = {"stage": "stage2", "steps": 7400, "losses": [2.0, 1.5, 1.08], "final_loss": 1.08,
              "tokens_per_s": 51234.0, "train_seconds": 36000.0, "output_dir": f"{S3}/stage2/model"}
    log = "starting\n[stage2] step 10/7400 loss 2.1000 lr 1e-5\n[stage2] step 7400/7400 loss 1.0800 lr 0\n"
    seen, lines = [], []
    with FakeKube(SUCCESS, log) as fake:
        backend = _backend(fake, lines)

        def on_progress(step, total, row):
            seen.append((step, total, row["loss"]))
            if step == total:  # as the trainer does at its end: result.json into the output prefix
                s3.put_object(Bucket="ichigo-data", Key="runs/r1/stage2/result.json",
                              Body=json.dumps(result).encode())

        res = run_stage(h100, "stage2", f"{S3}/stage1/model", f"{S3}/data/stage2", f"{S3}/stage2",
                        env={"MLFLOW_RUN_ID": "abc"}, progress=on_progress, backend=backend)
        name = trainjob_name("stage2", f"{S3}/stage2")
        assert name in fake.objects
        _assert_rbac(fake.calls)
        assert ("trainer.kubeflow.org", "trainjobs", "create") in fake.calls
        assert ("", "pods/log", "get") in fake.calls
    assert res.final_loss == 1.08 and res.losses == [2.0, 1.5, 1.08] and res.output_dir == f"{S3}/stage2/model"
    assert seen == [(10, 7400, 2.1), (7400, 7400, 1.08)]
    assert any("Complete" in line for line in lines) and any("starting" in line for line in lines)
    # idempotent: a finished output is returned without touching the cluster
    with FakeKube(SUCCESS) as fake2:
        again = run_stage(h100, "stage2", f"{S3}/stage1/model", f"{S3}/data/stage2", f"{S3}/stage2",
                          backend=_backend(fake2, []))
        assert fake2.calls == [] and again.final_loss == 1.08


def test_trainjob_failure_reports_the_reason(h100, s3):
    lines = []
    with FakeKube(FAILURE, "[stage3] step 1/644 loss 2.5\nCUDA out of memory\n") as fake:
        with pytest.raises(TrainingFailed, match="FailedJobs: node-0 exited with code 137 \\(OOMKilled\\)"):
            run_stage(h100, "stage3", f"{S3}/stage2/model", f"{S3}/data/stage3", f"{S3}/stage3",
                      backend=_backend(fake, lines))
        _assert_rbac(fake.calls)
    assert any("Failed" in line for line in lines)
    assert any("CUDA out of memory" in line for line in lines)  # the trainer pod's log was streamed
