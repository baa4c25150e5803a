"""Registry and follower faults of issue 17, each against the real MLflow server; every test
here failed before its fix."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time

import pytest
from mlflow import MlflowClient

from ichigo.errors import InputError
from ichigo.registry import AliasFollower, RegistryClient, alias_log, alias_stack, promote, register_candidate
from ichigo.registry.aliases import REFUSED_TAG, ROLLOUT_FAILED_TAG, record_holder
from tests.registry.conftest import make_lineage
from tests.registry.lossy_proxy import LossyProxy
from tests.registry.test_follower import Server

pytestmark = [pytest.mark.services, pytest.mark.slow]


def _register(registry, pkg, report, run, passed=True):
    lin = make_lineage(run)
    if not passed:
        lin = dataclasses.replace(lin, gate_report={"passed": False, "reasons": ["wer too high"]})
    return register_candidate(registry, pkg, {"wer": 0.4}, lin, [report]).version


def test_lost_create_model_version_response_makes_exactly_one_version(registry, small_package,
                                                                      gate_report, mlflow_server):
    with LossyProxy(mlflow_server.tracking_uri, "/api/2.0/mlflow/model-versions/create") as proxy:
        cfg = registry.cfg.model_copy(update={"tracking_uri": proxy.url})
        v = register_candidate(RegistryClient(cfg), small_package, {"wer": 0.4}, make_lineage("lost-1"), [gate_report])
        assert proxy.dropped == [200]  # the server made the version; the client never heard
    versions = MlflowClient(mlflow_server.tracking_uri).search_model_versions(
        f"name = '{registry.model_name}'")
    assert [m.version for m in versions] == [v.version] == ["1"]
    assert v.created


def test_promote_and_follower_refuse_an_ungated_version(registry, small_package, gate_report,
                                                        mlflow_server, tmp_path):
    v1 = _register(registry, small_package, gate_report, "gated")
    v2 = _register(registry, small_package, gate_report, "ungated", passed=False)
    with pytest.raises(InputError, match="gate_passed"):
        promote(registry, v2)
    promote(registry, v1)
    server = Server()
    f = AliasFollower(registry, "champion", server.apply, server.healthy, cache_dir=tmp_path / "c")
    assert f.poll_once().kind == "applied"
    # a human moves the alias in the UI, around `promote`'s check
    MlflowClient(mlflow_server.tracking_uri).set_registered_model_alias(registry.model_name, "champion", v2)
    ev = f.poll_once()
    assert (ev.kind, ev.version) == ("refused", v2) and "gate" in ev.error
    assert [v for v, _ in server.loaded] == [v1]  # never loaded
    assert registry.get_version_by_alias("champion").version == v1  # moved back
    tag = json.loads(MlflowClient(mlflow_server.tracking_uri).get_model_version(
        registry.model_name, v2).tags[REFUSED_TAG])
    assert tag["kept"] == v1 and "gate_passed" in tag["reason"]


def test_re_promoting_a_once_failed_version_rolls_it_out(registry, small_package, gate_report,
                                                         mlflow_server, tmp_path):
    v1 = _register(registry, small_package, gate_report, "a")
    v2 = _register(registry, small_package, gate_report, "b")
    server = Server()
    server.broken.add(v2)
    f = AliasFollower(registry, "champion", server.apply, server.healthy, cache_dir=tmp_path / "c")
    promote(registry, v1)
    f.poll_once()
    promote(registry, v2)
    assert f.poll_once().kind == "failed"
    assert f.poll_once().kind == "unchanged"  # the alias is back on v1
    with pytest.raises(InputError, match="retry"):
        promote(registry, v2)  # a failed rollout is not re-promoted by accident
    server.broken.clear()  # e.g. the node that could not load it was fixed
    promote(registry, v2, retry_failed=True)
    ev = f.poll_once()
    assert (ev.kind, ev.version) == ("applied", v2)  # before: "skipped" forever
    # a new follower (restart) reads the failure from the registry, not from memory
    server.broken.add(v2)
    promote(registry, v1)
    f.poll_once()
    promote(registry, v2)
    assert f.poll_once().kind == "failed"
    MlflowClient(mlflow_server.tracking_uri).set_registered_model_alias(registry.model_name, "champion", v2)
    f2 = AliasFollower(registry, "champion", server.apply, server.healthy, cache_dir=tmp_path / "c")
    ev = f2.poll_once()
    assert (ev.kind, ev.version) == ("refused", v2) and "failed a rollout" in ev.error


def test_restart_does_not_assume_the_pinned_version_is_healthy(registry, small_package, gate_report,
                                                              mlflow_server, tmp_path):
    v1 = _register(registry, small_package, gate_report, "r1")
    server = Server()  # nothing loaded: unhealthy
    f = AliasFollower(registry, "champion", server.apply, server.healthy, cache_dir=tmp_path / "c")
    pinned = registry.get_version_by_alias("challenger")
    assert not f.adopt_running(pinned) and f.current is None
    promote(registry, v1)
    assert f.poll_once().kind == "applied"  # rolled out and checked, not assumed
    assert f.adopt_running(registry.get_version_by_alias("champion"))


def test_heartbeat_keeps_beating_during_a_long_rollout(registry, small_package, gate_report,
                                                       mlflow_server, tmp_path):
    v1 = _register(registry, small_package, gate_report, "hb")
    hb = tmp_path / "hb"
    beats: list[float] = []

    def slow_apply(v, path):
        for _ in range(12):  # a rollout 12 poll intervals long
            time.sleep(0.05)
            if hb.exists():
                beats.append(os.stat(hb).st_mtime)

    f = AliasFollower(registry, "champion", slow_apply, lambda: True, poll_seconds=0.05,
                      cache_dir=tmp_path / "c", heartbeat_file=hb)
    promote(registry, v1)
    assert f.poll_once().kind == "applied"
    assert len(set(beats)) >= 3  # beaten during the rollout, not only after it


def test_alias_history_loses_no_event_under_concurrent_writers(registry, small_package, gate_report,
                                                               mlflow_server):
    v1 = _register(registry, small_package, gate_report, "h1")
    n = 8
    barrier = threading.Barrier(n)

    def write(i):
        barrier.wait()
        record_holder(registry, "champion", v1, f"writer-{i}")

    ts = [threading.Thread(target=write, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    actions = {e["action"] for e in alias_log(registry, "champion")}
    assert actions == {f"writer-{i}" for i in range(n)}  # read-modify-write lost some before
    assert alias_stack(registry, "champion") == [v1]
