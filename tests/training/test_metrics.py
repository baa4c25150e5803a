"""metrics.jsonl always; MLflow in batches when configured; a dead MLflow only warns."""

from __future__ import annotations

import pytest

from ichigo.training.metrics import MetricsLogger, read_metrics


def test_jsonl_and_resume_truncation(tmp_path):
    m = MetricsLogger(tmp_path, enabled=True)
    for s in range(1, 6):
        m.log(s, {"loss": 1.0 / s})
    m.close()
    (tmp_path / "metrics.jsonl").open("a").write('{"step": 6, "lo')  # torn line from a kill
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 3, 4, 5]
    MetricsLogger(tmp_path, enabled=True, resume_step=3).close()  # resumed at step 3
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2, 3]
    MetricsLogger(tmp_path / "x", enabled=False).log(1, {"loss": 1.0})  # other ranks write nothing
    assert not (tmp_path / "x").exists()


@pytest.mark.slow  # sqlite store migrations take several seconds
def test_mlflow_batches(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    mlflow.set_tracking_uri(uri)
    run = mlflow.MlflowClient().create_run(mlflow.MlflowClient().create_experiment("t"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_RUN_ID", run.info.run_id)
    (tmp_path / "out").mkdir()
    m = MetricsLogger(tmp_path / "out", enabled=True, mlflow_every=4, prefix="stage1/")
    calls = []
    real = m._client.log_batch
    m._client.log_batch = lambda *a, **k: (calls.append(len(k["metrics"])), real(*a, **k))
    for s in range(1, 11):
        m.log(s, {"loss": 10.0 - s, "lr": 1e-3})
    m.close()
    assert calls == [8, 8, 4]  # steps 1-4, 5-8, then the rest at close: no per-step round trip
    hist = mlflow.MlflowClient().get_metric_history(run.info.run_id, "stage1/loss")
    assert [h.step for h in sorted(hist, key=lambda h: h.step)] == list(range(1, 11))


def test_unreachable_mlflow_warns_and_continues(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("MLFLOW_RUN_ID", "0" * 32)
    m = MetricsLogger(tmp_path, enabled=True, mlflow_every=1)
    with pytest.warns(RuntimeWarning, match="MLflow logging disabled"):
        m.log(1, {"loss": 1.0})
    m.log(2, {"loss": 0.5})
    m.close()
    assert [r["step"] for r in read_metrics(tmp_path)] == [1, 2]
