import time

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_DOES_NOT_EXIST

from ichigo.config import RegistryConfig
from ichigo.errors import InputError
from ichigo.registry import alias_version, register_candidate
from ichigo.registry.client import RegistryClient, RegistryUnavailableError, is_transient
from tests.services import free_port


def _dead_cfg(**kw) -> RegistryConfig:
    opts = {"retries": 3, "retry_backoff_seconds": 0.01, "retry_max_backoff_seconds": 0.03, **kw}
    return RegistryConfig(tracking_uri=f"http://127.0.0.1:{free_port()}", **opts)


def test_dead_server_fails_after_backoff_with_a_clear_error():
    sleeps = []
    client = RegistryClient(_dead_cfg(), sleep=sleeps.append)
    t0 = time.monotonic()
    with pytest.raises(RegistryUnavailableError) as err:
        client.call(client.mlflow.search_registered_models, what="list models")
    assert time.monotonic() - t0 < 10
    assert sleeps == [0.01, 0.02, 0.03]  # exponential, capped
    msg = str(err.value)
    assert client.tracking_uri in msg and "4 attempt" in msg and "list models" in msg
    assert "registry.tracking_uri" in msg


def test_transient_failures_are_retried_until_success():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("connection refused")
        return "ok"

    client = RegistryClient(_dead_cfg(), sleep=lambda s: None)
    assert client.call(flaky) == "ok" and len(calls) == 3


def test_permanent_errors_are_not_retried():
    calls = []

    def bad():
        calls.append(1)
        raise MlflowException("no such model", error_code=RESOURCE_DOES_NOT_EXIST)

    client = RegistryClient(_dead_cfg(), sleep=lambda s: None)
    with pytest.raises(MlflowException):
        client.call(bad)
    assert len(calls) == 1
    assert not is_transient(InputError("x"))
    assert is_transient(MlflowException("API request to http://x failed with exception boom"))


def test_public_functions_surface_the_outage(tmp_path):
    cfg = _dead_cfg(retries=1)
    with pytest.raises(RegistryUnavailableError):
        alias_version(cfg, "champion")


def test_register_checks_inputs_before_calling_the_server(tmp_path):
    from ichigo.registry.lineage import CodeVersion, Lineage

    lin = Lineage("run", CodeVersion("abc", False))
    with pytest.raises(InputError, match="does not exist"):
        register_candidate(_dead_cfg(), tmp_path / "missing", {"wer": 0.1}, lin, [])
    (tmp_path / "notapkg").mkdir()
    with pytest.raises(InputError, match="not an Ichigo model package"):
        register_candidate(_dead_cfg(), tmp_path / "notapkg", {"wer": 0.1}, lin, [])
