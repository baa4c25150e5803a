"""RayServicePatcher against a local server that speaks the Kubernetes API for one RayService."""

from __future__ import annotations

import pytest
import yaml

from ichigo.config import load_profile
from ichigo.deploy.permissions import allowed
from ichigo.deploy.rayservice import RayServicePatcher
from ichigo.deploy.serve_config import build_serve_config
from ichigo.errors import ConfigError
from ichigo.registry import VersionInfo
from tests.deploy.fake_kube import FakeKube, custom_objects_api


def rayservice(namespace: str = "ichigo") -> dict:
    return {"apiVersion": "ray.io/v1", "kind": "RayService",
            "metadata": {"name": "ichigo", "namespace": namespace},
            "spec": {"serveConfigV2": yaml.safe_dump(build_serve_config(load_profile("h100")), sort_keys=False)}}


def version(v: str) -> VersionInfo:
    return VersionInfo("ichigo-speech-llm", v, "run", "models:/m-1", "READY")


def assert_within_follower_rbac(calls: list[dict]) -> None:
    verbs = {"GET": "get", "PATCH": "patch"}
    grants = allowed("ichigo-follower")
    assert calls
    for c in calls:
        assert verbs[c["method"]] in grants.get((c["group"], c["plural"]), frozenset()), c


def test_patch_pins_the_version_and_keeps_the_rest():
    with FakeKube(rayservice()) as kube:
        before = yaml.safe_load(kube.obj["spec"]["serveConfigV2"])
        patcher = RayServicePatcher("ichigo", "ichigo", custom_objects_api(kube.url), health_interval=0.01)
        assert patcher.deployed_version() is None  # as rendered: the alias, resolved at start
        patcher(version("7"))
        after = yaml.safe_load(kube.obj["spec"]["serveConfigV2"])
        # follow stays false: the follower is the alias's only controller
        assert kube.serve_args() == {"profile": "h100", "model_uri": "models:/ichigo-speech-llm/7",
                                     "model_version": "7", "follow": False}
        before["applications"][0]["args"] = after["applications"][0]["args"]
        assert after == before  # deployments, autoscaling, resources untouched
        assert patcher.deployed_version() == "7"
        assert kube.obj["metadata"]["generation"] == 2
        assert patcher.healthy()
        patches = [c for c in kube.calls if c["method"] == "PATCH"]
        assert len(patches) == 1 and patches[0]["content_type"] == "application/merge-patch+json"
        assert_within_follower_rbac(kube.calls)


def test_health_reports_a_failed_deploy_and_a_timeout():
    with FakeKube(rayservice(), progress_polls=2) as kube:
        kube.fail_versions = {"8"}
        patcher = RayServicePatcher("ichigo", "ichigo", custom_objects_api(kube.url), health_interval=0.01)
        patcher(version("8"))
        assert patcher.status() == "progressing"
        assert not patcher.healthy()
        assert patcher.status() == "failed"
    with FakeKube(rayservice(), progress_polls=10_000) as kube:
        slow = RayServicePatcher("ichigo", "ichigo", custom_objects_api(kube.url), health_timeout=0.2,
                                 health_interval=0.02)
        slow(version("9"))
        assert not slow.healthy()


def test_missing_rayservice_or_app_is_a_clear_error():
    from kubernetes.client.exceptions import ApiException

    with FakeKube(rayservice()) as kube:
        with pytest.raises(ApiException):
            RayServicePatcher("other", "ichigo", custom_objects_api(kube.url))(version("1"))
        with pytest.raises(ConfigError, match="no Serve application 'chat'"):
            RayServicePatcher("ichigo", "ichigo", custom_objects_api(kube.url), app_name="chat")(version("1"))
        assert_within_follower_rbac(kube.calls)
