"""MLflow's basic-auth app with the platform's identities: a real `mlflow server --app-name
basic-auth` (sqlite stores), bootstrapped by ichigo.deploy.mlflow_auth; each identity can do
its job and nothing more."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from ichigo.deploy.mlflow_auth import ROLES, Admin, Identity, bootstrap, identities_from_env
from ichigo.errors import ConfigError
from ichigo.ports import free_port

ADMIN_PW = "admin-password-for-tests"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    d = tmp_path_factory.mktemp("mlflow-auth")
    ini = d / "basic_auth.ini"
    ini.write_text(f"[mlflow]\ndefault_permission = NO_PERMISSIONS\ndatabase_uri = sqlite:///{d}/auth.db\n"
                   f"admin_username = admin\nadmin_password = {ADMIN_PW}\n"
                   "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n")
    port = free_port()
    env = {**os.environ, "MLFLOW_AUTH_CONFIG_PATH": str(ini), "MLFLOW_FLASK_SERVER_SECRET_KEY": "k" * 32}
    log = open(d / "server.log", "wb")
    proc = subprocess.Popen([str(Path(sys.executable).parent / "mlflow"), "server", "--app-name", "basic-auth",
                             "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
                             "--backend-store-uri", f"sqlite:///{d}/mlflow.db",
                             "--artifacts-destination", str(d / "artifacts")],
                            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if requests.get(base + "/health", timeout=2).ok:
                break
        except requests.ConnectionError:
            pass
        assert proc.poll() is None and time.monotonic() < deadline, (d / "server.log").read_text()[-2000:]
        time.sleep(1)
    yield base
    try:
        os.killpg(proc.pid, 15)
        proc.wait(30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, 9)


def people() -> list[Identity]:
    return [Identity(role, f"ichigo-{role}", f"{role}-password-123") for role in ROLES]


def call(base, who, method, path, **body):
    kw = {"params": body} if method == "GET" else {"json": body}
    return requests.request(method, f"{base}/api/2.0/mlflow/{path}", auth=(who.username, who.password),
                            timeout=30, **kw)


def test_identities_get_least_privilege(auth_server):
    base = auth_server
    admin = Admin(base, "admin", ADMIN_PW)
    bootstrap(base, admin, people(), "ichigo", "ichigo-speech-llm")
    bootstrap(base, admin, people(), "ichigo", "ichigo-speech-llm")  # idempotent
    pipe, follower, viewer = people()
    anon = requests.get(f"{base}/api/2.0/mlflow/registered-models/get", params={"name": "ichigo-speech-llm"})
    assert anon.status_code == 401

    exp = call(base, viewer, "GET", "experiments/get-by-name", experiment_name="ichigo").json()["experiment"]
    # pipeline: runs and versions
    run = call(base, pipe, "POST", "runs/create", experiment_id=exp["experiment_id"])
    assert run.ok, run.text
    mv = call(base, pipe, "POST", "model-versions/create", name="ichigo-speech-llm", source="s3://b/m",
              run_id=run.json()["run"]["info"]["run_id"])
    assert mv.ok, mv.text
    version = mv.json()["model_version"]["version"]
    # follower: moves the alias and tags, but cannot create runs or delete the model
    assert call(base, follower, "POST", "registered-models/alias", name="ichigo-speech-llm",
                alias="champion", version=version).ok
    assert call(base, follower, "POST", "runs/create", experiment_id=exp["experiment_id"]).status_code == 403
    assert call(base, follower, "DELETE", "registered-models/delete", name="ichigo-speech-llm").status_code == 403
    # viewer: reads only
    assert call(base, viewer, "GET", "registered-models/alias", name="ichigo-speech-llm", alias="champion").ok
    assert call(base, viewer, "POST", "registered-models/alias", name="ichigo-speech-llm",
                alias="champion", version=version).status_code == 403
    # pipeline cannot delete either (MANAGE stays with the admin)
    assert call(base, pipe, "DELETE", "registered-models/delete", name="ichigo-speech-llm").status_code == 403


def test_identity_env_is_validated():
    env = {f"MLFLOW_{r.upper()}_{k}": "x" * 16 for r in ROLES for k in ("USERNAME", "PASSWORD")}
    assert [i.role for i in identities_from_env(env)] == list(ROLES)
    with pytest.raises(ConfigError, match="MLFLOW_VIEWER_USERNAME"):
        identities_from_env({k: v for k, v in env.items() if k != "MLFLOW_VIEWER_USERNAME"})
    with pytest.raises(ConfigError, match="shorter"):
        identities_from_env({**env, "MLFLOW_PIPELINE_PASSWORD": "short"})
