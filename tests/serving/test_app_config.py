"""The graph's deployments get names, resources and autoscaling from the profile."""

from __future__ import annotations

import pytest

from ichigo.config import load_profile
from ichigo.deploy.serve_config import DEPLOYMENT_NAMES, GIB, build_serve_config
from ichigo.errors import ConfigError, InputError
from serving.app import build_app
from tests.serving.conftest import TEST_OVERRIDES


def _deployments(app) -> dict:
    """Walk the bound graph: the ingress's first three init args are the model deployments."""
    ingress = app._bound_deployment  # Ray's Application keeps its Deployment here
    out = {ingress.name: ingress}
    for child in ingress.init_args[:3]:
        out[child._bound_deployment.name] = child._bound_deployment
    return out


def test_deployments_follow_the_profile(tiny_package):
    profile = load_profile("local", overrides=TEST_OVERRIDES)
    deps = _deployments(build_app({"profile": profile, "model_uri": str(tiny_package)}))
    assert set(deps) == set(DEPLOYMENT_NAMES.values())
    for key, name in DEPLOYMENT_NAMES.items():
        want = profile.serving.deployments[key]
        d = deps[name]
        a = d._deployment_config.autoscaling_config
        assert (a.min_replicas, a.max_replicas) == (want.autoscaling.min_replicas, want.autoscaling.max_replicas)
        assert a.target_ongoing_requests == want.autoscaling.target_ongoing_requests
        assert d.ray_actor_options["num_cpus"] == want.num_cpus
        assert d.ray_actor_options["num_gpus"] == want.num_gpus
        assert d.ray_actor_options["memory"] == int(want.memory_gib * GIB)


def test_same_names_and_import_path_as_the_cluster_config(tiny_package):
    """`serveConfigV2` (ichigo.deploy) points at this builder with these deployment names."""
    import importlib

    cfg = build_serve_config(load_profile("h100"))["applications"][0]
    module, attr = cfg["import_path"].split(":")
    assert getattr(importlib.import_module(module), attr) is build_app
    deps = _deployments(build_app({"profile": "h100", "model_uri": str(tiny_package)}))
    assert {d["name"] for d in cfg["deployments"]} == set(deps)
    assert deps["LLM"].ray_actor_options["num_gpus"] >= 1
    # vLLM batches continuously: many requests per replica; the torch engine one at a time
    assert deps["LLM"]._deployment_config.max_ongoing_requests >= 64
    local = _deployments(build_app({"profile": "local", "model_uri": str(tiny_package)}))
    assert local["LLM"]._deployment_config.max_ongoing_requests <= 4


def test_bad_args_fail_at_build_time(tmp_path):
    with pytest.raises(InputError, match="model_uri"):
        build_app({"profile": "local"})
    with pytest.raises(InputError, match="not an Ichigo model package"):
        build_app({"profile": "local", "model_uri": str(tmp_path)})
    with pytest.raises(InputError, match="models:/"):
        build_app({"profile": "local", "model_uri": "models:/only-a-name"})
    with pytest.raises(ConfigError, match="unknown profile"):
        build_app({"profile": "nope", "model_uri": str(tmp_path)})


@pytest.mark.slow
def test_running_replicas_match_min_replicas(served):
    from ray import serve

    deps = serve.status().applications["ichigo"].deployments
    assert deps["LLM"].replica_states.get("RUNNING") == 2  # min_replicas in TEST_OVERRIDES
    assert deps["Ingress"].replica_states.get("RUNNING") == 1
