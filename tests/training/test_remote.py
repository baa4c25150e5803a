"""s3:// outputs: checkpoints are pushed trainer.json-last and only complete ones are pulled."""

from __future__ import annotations

import pytest

from ichigo.training import remote


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
        client.create_bucket(Bucket="ichigo-test")
        yield client


def test_push_pull_only_complete_checkpoints(s3, tmp_path):
    uri = "s3://ichigo-test/runs/stage1"
    src = tmp_path / "src"
    for step, complete in ((4, True), (8, True), (12, False)):
        d = src / "checkpoints" / f"step_{step:06d}"
        (d / "resume").mkdir(parents=True)
        (d / "model.safetensors").write_bytes(b"w" * step)
        if complete:
            (d / "resume" / "trainer.json").write_text(f'{{"step": {step}}}')
        remote.push(src, uri, f"checkpoints/step_{step:06d}")
    (src / "metrics.jsonl").write_text('{"step": 1, "loss": 2.0}\n')
    remote.push(src, uri, "metrics.jsonl")
    dst = tmp_path / "dst"
    remote.pull_output(uri, dst)
    assert sorted(p.name for p in (dst / "checkpoints").iterdir()) == ["step_000008"]
    assert (dst / "checkpoints/step_000008/model.safetensors").read_bytes() == b"w" * 8
    assert (dst / "metrics.jsonl").is_file() and not (dst / "result.json").exists()
    remote.prune_checkpoints(uri, keep={"step_000008", "step_000012"})
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="ichigo-test")["Contents"]]
    assert not any("step_000004" in k for k in keys) and any("step_000008" in k for k in keys)
    assert remote.local_output(uri) != remote.local_output("s3://ichigo-test/runs/stage2")
    assert remote.local_output(str(tmp_path)) == tmp_path
