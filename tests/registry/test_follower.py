"""The promotion follower against the real MLflow server: alias moves made with the plain MLflow
client (what the UI does) are followed; a version that fails to load or is unhealthy is rolled
back by the follower itself."""

from __future__ import annotations

import json

import pytest
from mlflow import MlflowClient

from ichigo.deploy.rayservice import RayServicePatcher
from ichigo.package import read_package_info
from ichigo.registry import AliasFollower, RegistryClient, alias_log, promote, register_candidate
from ichigo.registry.aliases import ROLLOUT_FAILED_TAG
from tests.deploy.fake_kube import FakeKube, custom_objects_api
from tests.deploy.test_rayservice import assert_within_follower_rbac, rayservice
from tests.registry.conftest import make_lineage
from ichigo.ports import free_port

pytestmark = [pytest.mark.services, pytest.mark.slow]


class Server:
    """Stands in for the running deployments: records what it loaded; can refuse a version."""

    def __init__(self):
        self.loaded: list[tuple[str, str]] = []
        self.broken: set[str] = set()
        self.unhealthy: set[str] = set()

    def apply(self, v, path):
        read_package_info(path)  # a real downloaded package
        if v.version in self.broken:
            raise RuntimeError(f"cannot load version {v.version}")
        self.loaded.append((v.version, str(path)))

    def healthy(self) -> bool:
        return bool(self.loaded) and self.loaded[-1][0] not in self.unhealthy


@pytest.fixture
def three_versions(registry, small_package, gate_report):
    return [register_candidate(registry, small_package, {"wer": w}, make_lineage(f"run-{i}", w),
                               [gate_report]).version for i, w in enumerate((0.5, 0.4, 0.3), 1)]


def ui_sets_alias(registry: RegistryClient, uri: str, version: str) -> None:
    MlflowClient(uri).set_registered_model_alias(registry.model_name, "champion", version)


def test_follows_ui_promotions(registry, three_versions, mlflow_server, tmp_path):
    v1, v2, _ = three_versions
    server = Server()
    hb = tmp_path / "heartbeat"
    f = AliasFollower(registry, "champion", server.apply, server.healthy, poll_seconds=0.01,
                      cache_dir=tmp_path / "cache", heartbeat_file=hb)
    assert f.poll_once().kind == "no_alias" and hb.exists()
    promote(registry, v1)
    ev = f.poll_once()
    assert (ev.kind, ev.version, ev.previous) == ("applied", v1, None)
    assert f.poll_once().kind == "unchanged"
    ui_sets_alias(registry, mlflow_server.tracking_uri, v2)
    ev = f.poll_once()
    assert (ev.kind, ev.version, ev.previous) == ("applied", v2, v1)
    assert [v for v, _ in server.loaded] == [v1, v2]
    assert server.loaded[0][1] != server.loaded[1][1]  # each version from its own download
    f.run(max_polls=2)  # the loop: nothing new
    assert [e.kind for e in f.events[-2:]] == ["unchanged", "unchanged"]
    log = alias_log(registry, "champion")
    assert [(e["action"], e["version"]) for e in log] == [("promote", v1), ("serving", v2)]


def test_failed_load_is_rolled_back_by_the_follower(registry, three_versions, mlflow_server, tmp_path):
    v1, v2, v3 = three_versions
    server = Server()
    server.broken.add(v2)
    f = AliasFollower(registry, "champion", server.apply, server.healthy, cache_dir=tmp_path / "cache")
    promote(registry, v1)
    assert f.poll_once().kind == "applied"
    ui_sets_alias(registry, mlflow_server.tracking_uri, v2)
    ev = f.poll_once()
    assert (ev.kind, ev.version, ev.previous) == ("failed", v2, v1) and "cannot load version" in ev.error
    assert [v for v, _ in server.loaded] == [v1, v1]  # the previous version was applied again
    assert registry.get_version_by_alias("champion").version == v1  # and the registry says so
    tag = json.loads(MlflowClient(mlflow_server.tracking_uri).get_model_version(
        registry.model_name, v2).tags[ROLLOUT_FAILED_TAG])
    assert tag["restored"] == v1 and "cannot load version" in tag["error"]
    assert alias_log(registry, "champion")[-1]["action"] == "auto-revert"
    assert f.poll_once().kind == "unchanged"
    # a healthy version promoted afterwards is followed as usual
    ui_sets_alias(registry, mlflow_server.tracking_uri, v3)
    assert f.poll_once().kind == "applied" and f.current.version == v3


def test_unhealthy_version_without_alias_revert(registry, three_versions, mlflow_server, tmp_path):
    v1, v2, v3 = three_versions
    server = Server()
    server.unhealthy.add(v2)
    f = AliasFollower(registry, "champion", server.apply, server.healthy, cache_dir=tmp_path / "cache",
                      revert_alias=False)
    promote(registry, v1)
    f.poll_once()
    ui_sets_alias(registry, mlflow_server.tracking_uri, v2)
    ev = f.poll_once()
    assert ev.kind == "failed" and "health check failed" in ev.error
    assert server.loaded[-1][0] == v1 and server.healthy()
    assert registry.get_version_by_alias("champion").version == v2  # left for a human to decide
    # not retried in a loop: the failure is on the version in the registry, so it is refused
    assert f.poll_once().kind == "refused"
    assert [v for v, _ in server.loaded] == [v1, v2, v1]


def test_registry_outage_keeps_serving(registry, three_versions, tmp_path):
    server = Server()
    f = AliasFollower(registry, "champion", server.apply, server.healthy, cache_dir=tmp_path / "cache")
    promote(registry, three_versions[0])
    assert f.poll_once().kind == "applied"
    dead = registry.cfg.model_copy(update={"tracking_uri": f"http://127.0.0.1:{free_port()}", "retries": 1,
                                           "retry_backoff_seconds": 0.01})
    f.client = RegistryClient(dead)
    ev = f.poll_once()
    assert ev.kind == "unavailable" and "did not answer" in ev.error
    assert f.current.version == three_versions[0] and len(server.loaded) == 1


def test_follower_drives_a_rayservice(registry, three_versions, mlflow_server):
    v1, v2, _ = three_versions
    with FakeKube(rayservice()) as kube:
        kube.fail_versions = {v2}
        patcher = RayServicePatcher("ichigo", "ichigo", custom_objects_api(kube.url), health_timeout=5,
                                    health_interval=0.01)
        f = AliasFollower(registry, "champion", patcher, patcher.healthy, fetch_package=False)
        promote(registry, v1)
        assert f.poll_once().kind == "applied"
        assert kube.serve_args()["model_uri"] == f"models:/{registry.model_name}/{v1}"
        ui_sets_alias(registry, mlflow_server.tracking_uri, v2)
        ev = f.poll_once()
        assert ev.kind == "failed"  # KubeRay reported DEPLOY_FAILED for v2
        assert kube.serve_args()["model_version"] == v1 and patcher.status() == "ready"
        assert registry.get_version_by_alias("champion").version == v1
        assert_within_follower_rbac(kube.calls)


def test_run_follower_entry_point_patches_the_cluster(registry, three_versions, mlflow_server, tmp_path,
                                                      monkeypatch):
    """`ichigo follow --profile P` in the follower pod: kubeconfig/ServiceAccount, env from the
    Deployment, starts from the version the RayService runs now."""
    import yaml

    from ichigo.config import load_profile
    from ichigo.errors import ConfigError
    from ichigo.registry import run_follower

    v1, v2, _ = three_versions
    prof = load_profile("local").model_dump(mode="json")
    prof["registry"]["model_name"] = registry.model_name
    prof["registry"]["tracking_uri"] = "http://127.0.0.1:1"  # overridden by MLFLOW_TRACKING_URI below
    prof["registry"]["cache_dir"] = str(tmp_path / "cache")
    profile = tmp_path / "follow.yaml"
    profile.write_text(yaml.safe_dump(prof))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.tracking_uri)
    monkeypatch.delenv("ICHIGO_RAYSERVICE", raising=False)
    with pytest.raises(ConfigError, match="ICHIGO_RAYSERVICE"):
        run_follower(str(profile), max_polls=1)

    with FakeKube(rayservice(), progress_polls=0) as kube:
        patcher = RayServicePatcher("ichigo", "ichigo", custom_objects_api(kube.url))
        patcher(registry.get_model_version(v1))  # what the cluster runs before the follower starts
        kubeconfig = tmp_path / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {"server": kube.url}}],
            "users": [{"name": "follower", "user": {"token": "test-token"}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "follower"}}]}))
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        monkeypatch.setenv("ICHIGO_RAYSERVICE", "ichigo")
        monkeypatch.setenv("ICHIGO_NAMESPACE", "ichigo")
        monkeypatch.setenv("ICHIGO_HEARTBEAT_FILE", str(tmp_path / "hb"))
        promote(registry, v2)
        f = run_follower(str(profile), max_polls=1)
        assert [(e.kind, e.version, e.previous) for e in f.events] == [("applied", v2, v1)]
        assert kube.serve_args()["model_uri"] == f"models:/{registry.model_name}/{v2}"
        assert (tmp_path / "hb").exists()
        assert_within_follower_rbac(kube.calls)

