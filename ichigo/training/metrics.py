"""Per-step training metrics: always `output_dir/metrics.jsonl` (one JSON line per step), and MLflow
when MLFLOW_TRACKING_URI and MLFLOW_RUN_ID are set (rank 0 only, `log_batch` every N steps so the
step loop never waits on a round trip). An unreachable MLflow costs one warning, not the run."""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path

from ichigo.artifacts import TRAIN_METRICS_FILE as METRICS_FILE


def read_metrics(path: str | Path) -> list[dict]:
    """Rows of a metrics.jsonl (last row per step wins; a torn last line is ignored)."""
    p = Path(path)
    if p.is_dir():
        p = p / METRICS_FILE
    if not p.is_file():
        return []
    by_step: dict[int, dict] = {}
    for line in p.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        by_step[int(row["step"])] = row
    return [by_step[k] for k in sorted(by_step)]


class MetricsLogger:
    def __init__(self, output_dir: Path, enabled: bool, mlflow_every: int = 20, resume_step: int = 0,
                 prefix: str = ""):
        self.enabled = enabled
        self.path = Path(output_dir) / METRICS_FILE
        self.mlflow_every = mlflow_every
        self.prefix = prefix
        self._buffer: list = []
        self._client = None
        self._run_id = os.environ.get("MLFLOW_RUN_ID")
        if not enabled:
            return
        # a resumed run recomputes the steps after its checkpoint: drop their old rows
        rows = [r for r in read_metrics(self.path) if r["step"] <= resume_step]
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
        os.replace(tmp, self.path)
        self._file = open(self.path, "a", buffering=1)
        if self._run_id and os.environ.get("MLFLOW_TRACKING_URI"):
            # fail fast instead of mlflow's default minutes of retries against a dead server
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
            os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "10")
            try:
                from mlflow.tracking import MlflowClient

                self._client = MlflowClient()
            except Exception as e:  # noqa: BLE001 - metrics must never stop training
                self._disable(e)

    def _disable(self, err: Exception) -> None:
        warnings.warn(f"MLflow logging disabled ({type(err).__name__}: {err}); metrics still go to "
                      f"{self.path}", RuntimeWarning, stacklevel=3)
        self._client = None
        self._buffer.clear()

    def log(self, step: int, metrics: dict[str, float]) -> None:
        if not self.enabled:
            return
        self._file.write(json.dumps({"step": step, **metrics}) + "\n")
        if self._client is not None:
            from mlflow.entities import Metric

            ts = int(time.time() * 1000)
            self._buffer.extend(Metric(f"{self.prefix}{k}", float(v), ts, step) for k, v in metrics.items()
                                if isinstance(v, (int, float)))
            if step % self.mlflow_every == 0:
                self.flush()

    def flush(self) -> None:
        if self._client is None or not self._buffer:
            return
        try:
            for i in range(0, len(self._buffer), 1000):  # MLflow's per-request metric limit
                self._client.log_batch(self._run_id, metrics=self._buffer[i:i + 1000])
            self._buffer.clear()
        except Exception as e:  # noqa: BLE001
            self._disable(e)

    def close(self) -> None:
        if self.enabled:
            self.flush()
            self._file.close()
