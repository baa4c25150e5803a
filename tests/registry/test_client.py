"""The registry client's methods retry transient failures inside themselves (the same loop for
every method), give up with a clear error, and never retry a request that was wrong."""

import time
from types import SimpleNamespace

import pytest
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, TEMPORARILY_UNAVAILABLE

from ichigo.config import RegistryConfig
from ichigo.errors import InputError
from ichigo.registry import champion_metrics, promote, register_candidate
from ichigo.registry.client import RegistryClient, RegistryUnavailableError, is_transient
from ichigo.ports import free_port


def _dead_cfg(**kw) -> RegistryConfig:
    opts = {"retries": 3, "retry_backoff_seconds": 0.01, "retry_max_backoff_seconds": 0.03, **kw}
    return RegistryConfig(tracking_uri=f"http://127.0.0.1:{free_port()}", **opts)


class ScriptedMlflow:
    """Stands in for MlflowClient: each named method raises the scripted errors in turn, then
    returns its scripted answer; every call is recorded."""

    def __init__(self, **script):
        self.script = {name: list(steps) for name, steps in script.items()}
        self.calls: list[tuple[str, tuple]] = []

    def __getattr__(self, name):
        def method(*args, **kwargs):
            self.calls.append((name, args))
            step = self.script[name].pop(0) if len(self.script[name]) > 1 else self.script[name][0]
            if isinstance(step, BaseException):
                raise step
            return step
        return method

    def count(self, name: str) -> int:
        return sum(1 for n, _ in self.calls if n == name)


def _client(mlflow: ScriptedMlflow, sleeps: list | None = None, **kw) -> RegistryClient:
    return RegistryClient(_dead_cfg(**kw), sleep=(sleeps.append if sleeps is not None else lambda s: None),
                          mlflow_client=mlflow)


def _mv(version: str, **kw) -> SimpleNamespace:
    return SimpleNamespace(**{"name": "ichigo-speech-llm", "version": version, "run_id": "run-1",
                              "source": "models:/m-1", "status": "READY", "tags": {}, "aliases": [], **kw})


def test_dead_server_fails_after_backoff_with_a_clear_error():
    sleeps = []
    client = RegistryClient(_dead_cfg(), sleep=sleeps.append)
    t0 = time.monotonic()
    with pytest.raises(RegistryUnavailableError) as err:
        client.get_model_version("1")
    assert time.monotonic() - t0 < 10
    assert sleeps == [0.01, 0.02, 0.03]  # exponential, capped
    msg = str(err.value)
    assert client.tracking_uri in msg and "4 attempt" in msg and "get version" in msg
    assert "registry.tracking_uri" in msg


def test_a_method_retries_transient_failures_until_success():
    sleeps = []
    fake = ScriptedMlflow(get_model_version_by_alias=[
        ConnectionError("connection refused"), MlflowException("busy", error_code=TEMPORARILY_UNAVAILABLE),
        _mv("3", aliases=["champion"])])
    v = _client(fake, sleeps).get_version_by_alias("champion")
    assert (v.version, v.aliases, v.uri) == ("3", ("champion",), "models:/ichigo-speech-llm/3")
    assert fake.count("get_model_version_by_alias") == 3 and sleeps == [0.01, 0.02]


def test_every_method_goes_through_the_retry_loop():
    """One transient failure each, then success: no method calls MLflow without the loop."""
    flaky = ConnectionError("reset")
    run = SimpleNamespace(info=SimpleNamespace(run_id="r9"), data=SimpleNamespace(metrics={"wer": 0.3}))
    fake = ScriptedMlflow(**{name: [flaky, answer] for name, answer in {
        "get_model_version": _mv("1"), "search_model_versions": [_mv("1"), _mv("2", status="PENDING_REGISTRATION")],
        "set_registered_model_alias": None, "set_model_version_tag": None, "delete_model_version_tag": None,
        "get_registered_model": SimpleNamespace(tags={"k": "v"}), "set_registered_model_tag": None,
        "create_run": run, "get_run": run, "log_batch": None, "log_artifact": None, "set_terminated": None,
    }.items()})
    client = _client(fake)
    assert client.get_model_version(1).version == "1"
    assert [v.status for v in client.search_model_versions("name = 'x'")] == ["READY", "PENDING_REGISTRATION"]
    client.set_alias("champion", "1")
    client.set_model_version_tag("1", "k", "v")
    client.delete_model_version_tag("1", "k")
    assert client.registered_model_tags() == {"k": "v"}
    client.set_registered_model_tag("k", "v")
    assert client.create_run("0", "r", {"t": "1"}) == "r9"
    assert client.get_run_metrics("r9") == {"wer": 0.3}
    client.log_batch("r9", {"wer": 0.3}, {"lr": "0.1"})
    client.log_artifact("r9", "/tmp/x")
    client.set_terminated("r9")
    assert {n: fake.count(n) for n in fake.script} == {n: 2 for n in fake.script}
    assert ("set_model_version_tag", ("ichigo-speech-llm", "1", "k", "v")) in fake.calls  # the bound model


def test_experiment_and_registered_model_are_made_once_whoever_makes_them():
    from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS

    made_meanwhile = MlflowException("made meanwhile", error_code=RESOURCE_ALREADY_EXISTS)
    fake = ScriptedMlflow(get_experiment_by_name=[ConnectionError("reset"), SimpleNamespace(experiment_id="e1")],
                          get_registered_model=[MlflowException("none", error_code=RESOURCE_DOES_NOT_EXIST)],
                          create_registered_model=[ConnectionError("reset"), made_meanwhile])
    client = _client(fake)
    assert client.experiment_id() == "e1"
    client.ensure_registered_model("a speech LLM")  # a concurrent registration created it: fine
    assert [fake.count(n) for n in ("get_experiment_by_name", "get_registered_model", "create_registered_model")] \
        == [2, 1, 2]


def test_missing_things_are_none_and_wrong_requests_are_not_retried():
    missing = MlflowException("no such model", error_code=RESOURCE_DOES_NOT_EXIST)
    fake = ScriptedMlflow(get_model_version=[missing], get_model_version_by_alias=[missing],
                          search_model_versions=[missing],
                          set_registered_model_alias=[MlflowException("bad", error_code=INVALID_PARAMETER_VALUE)])
    client = _client(fake)
    assert client.get_model_version("7") is None and client.get_version_by_alias("champion") is None
    assert client.search_model_versions("name = 'x'") == []
    with pytest.raises(MlflowException, match="bad"):
        client.set_alias("champion", "1")
    assert all(fake.count(n) == 1 for n in fake.script)
    assert not is_transient(InputError("x"))
    assert is_transient(MlflowException("API request to http://x failed with exception boom"))


def test_create_model_version_looks_for_a_lost_create_before_retrying():
    lost = ConnectionError("connection dropped after the server committed")
    fake = ScriptedMlflow(create_model_version=[lost, _mv("5")])
    looked: list[int] = []

    def made() -> str | None:
        looked.append(1)
        return "4"  # the first create did make a version

    assert _client(fake).create_model_version("models:/m-1", run_id="r", tags={}, description="",
                                              model_id="m-1", find_existing=made) == "4"
    assert fake.count("create_model_version") == 1 and looked == [1]

    fake = ScriptedMlflow(create_model_version=[lost, _mv("5")])
    assert _client(fake).create_model_version("models:/m-1", run_id="r", tags={}, description="",
                                              model_id="m-1", find_existing=lambda: None) == "5"
    assert fake.count("create_model_version") == 2


def test_mark_failed_tries_once_and_keeps_quiet():
    fake = ScriptedMlflow(set_terminated=[ConnectionError("down")])
    _client(fake).mark_failed("r1")
    assert fake.calls == [("set_terminated", ("r1", "FAILED"))]


def test_public_functions_surface_the_outage():
    client = RegistryClient(_dead_cfg(retries=1), sleep=lambda s: None)
    with pytest.raises(RegistryUnavailableError, match="get alias"):
        champion_metrics(client)
    with pytest.raises(RegistryUnavailableError, match="get version"):
        promote(client, 1)


def test_for_model_keeps_the_registry_and_the_backoff():
    sleeps = []
    fake = ScriptedMlflow(get_model_version=[ConnectionError("reset"), _mv("2", name="other-model")])
    client = _client(fake, sleeps)
    other = client.for_model("other-model")
    assert client.for_model(client.model_name) is client
    assert (other.model_name, other.tracking_uri) == ("other-model", client.tracking_uri)
    assert other.get_model_version("2").uri == "models:/other-model/2"
    assert fake.calls[-1] == ("get_model_version", ("other-model", "2")) and sleeps == [0.01]


def test_register_checks_inputs_before_calling_the_server(tmp_path):
    from ichigo.registry.lineage import CodeVersion, Lineage

    lin = Lineage("run", CodeVersion("abc", False))
    client = RegistryClient(_dead_cfg())
    with pytest.raises(InputError, match="does not exist"):
        register_candidate(client, tmp_path / "missing", {"wer": 0.1}, lin, [])
    (tmp_path / "notapkg").mkdir()
    with pytest.raises(InputError, match="not an Ichigo model package"):
        register_candidate(client, tmp_path / "notapkg", {"wer": 0.1}, lin, [])
