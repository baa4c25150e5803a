"""Real servers for tests, started once per session and stopped at its end.

- `postgres_db`: a fresh database on the PostgreSQL at 127.0.0.1:5432 (dropped afterwards);
- `s3_server`: SeaweedFS (`weed mini`) as an S3 server on free ports, with a test bucket;
- `mlflow_server`: MLflow tracking server, Postgres backend, artifacts proxied to that S3.

A laptop without Postgres / weed skips these tests with the reason; under CI=true they fail.
Registered for every test by `pytest_plugins` in tests/conftest.py.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from ichigo.ports import free_port, free_ports
from tests.conftest import need, need_binary

PG_HOST, PG_PORT, PG_USER = "127.0.0.1", 5432, "postgres"
S3_KEY, S3_SECRET = "ichigo-test", "ichigo-test-secret"
_STARTED: list[subprocess.Popen] = []


def _bin(name: str) -> str:
    """The venv's own binary first (a `mlflow` elsewhere on PATH may be another version)."""
    own = Path(sys.executable).parent / name
    return str(own) if own.exists() else need_binary(name)


def _stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """Stop a server we started and every child it spawned (own process group)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    if proc in _STARTED:
        _STARTED.remove(proc)


@atexit.register
def _stop_leftovers() -> None:  # an interrupted session must not leave servers behind
    for p in list(_STARTED):
        _stop(p, 5)


def _start(cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen:
    f = open(log, "wb")
    proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    f.close()
    _STARTED.append(proc)
    return proc


def _wait(ok, proc: subprocess.Popen, log: Path, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if ok():
            return
        time.sleep(0.25)
    tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
    _stop(proc)
    pytest.fail(f"{what} did not come up within {timeout:.0f}s (exit code {proc.returncode}); log:\n{tail}")


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status < 500
    except urllib.error.HTTPError as e:
        return e.code < 500  # S3 answers 403 to an anonymous GET: it is up
    except OSError:
        return False


def postgres_reachable() -> bool:
    try:
        import psycopg2

        psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres", connect_timeout=2).close()
        return True
    except Exception:  # noqa: BLE001 - any failure means "not here"
        return False


@pytest.fixture(scope="session")
def postgres_db():
    """SQLAlchemy URL of a database created for this session (dropped at the end)."""
    need(postgres_reachable(), f"PostgreSQL is not reachable at {PG_HOST}:{PG_PORT} (user {PG_USER})")
    import psycopg2

    name = f"ichigo_test_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    access_key: str
    secret_key: str
    bucket: str

    def client(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key, region_name="us-east-1")

    def keys(self, prefix: str = "") -> list[str]:
        out = []
        for page in self.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            out.extend(o["Key"] for o in page.get("Contents", []))
        return out


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory):
    """SeaweedFS S3 on free ports (every port `weed mini` opens is chosen, nothing default)."""
    weed = _bin("weed")
    d = tmp_path_factory.mktemp("seaweedfs")
    names = ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3", "s3.grpc", "admin",
             "admin.grpc")
    ports = dict(zip(names, free_ports(len(names))))
    cmd = [weed, "mini", f"-dir={d / 'data'}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-admin.ui=false",
           "-master.telemetry=false", "-webdav=false", "-s3.port.iceberg=0", "-s3.port.lance=0"]
    cmd += [f"-{k.replace('.grpc', '.port.grpc') if k.endswith('.grpc') else k + '.port'}={p}"
            for k, p in ports.items()]
    (d / "data").mkdir()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET}
    log = d / "weed.log"
    proc = _start(cmd, log, env)
    server = S3Server(f"http://127.0.0.1:{ports['s3']}", S3_KEY, S3_SECRET, "ichigo-test")
    _wait(lambda: _http_ok(server.endpoint), proc, log, "SeaweedFS S3", 60)
    # the S3 gateway can answer before the volume server takes writes: retry the first bucket op
    deadline = time.monotonic() + 30
    while True:
        try:
            server.client().create_bucket(Bucket=server.bucket)
            break
        except Exception:  # noqa: BLE001
            if time.monotonic() > deadline:
                _stop(proc)
                raise
            time.sleep(0.5)
    try:
        yield server
    finally:
        _stop(proc)


@dataclass(frozen=True)
class MlflowServer:
    tracking_uri: str
    artifacts_destination: str
    s3: S3Server


@pytest.fixture(scope="session")
def mlflow_server(postgres_db, s3_server, tmp_path_factory):
    """MLflow 3 tracking server: Postgres backend store, artifacts proxied to the S3 server."""
    mlflow_bin = _bin("mlflow")
    d = tmp_path_factory.mktemp("mlflow_server")
    port = free_port()
    dest = f"s3://{s3_server.bucket}/mlflow"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": S3_KEY, "AWS_SECRET_ACCESS_KEY": S3_SECRET,
           "MLFLOW_S3_ENDPOINT_URL": s3_server.endpoint, "AWS_DEFAULT_REGION": "us-east-1",
           # the server's background job runner (huey workers) is not needed and costs CPU
           "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    cmd = [mlflow_bin, "server", "--backend-store-uri", postgres_db, "--artifacts-destination", dest,
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    log = d / "mlflow.log"
    proc = _start(cmd, log, env)
    uri = f"http://127.0.0.1:{port}"
    _wait(lambda: _http_ok(f"{uri}/health"), proc, log, "MLflow server", 120)
    try:
        yield MlflowServer(uri, dest, s3_server)
    finally:
        _stop(proc)


