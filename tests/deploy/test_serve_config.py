import pytest

from ichigo.config import load_profile
from ichigo.deploy.serve_config import build_serve_config, max_resource_demand


def test_h100_serve_config_maps_profile():
    cfg = build_serve_config(load_profile("h100"))
    (app,) = cfg["applications"]
    assert app["name"] == "ichigo" and app["route_prefix"] == "/"
    assert app["import_path"] == "serving.app:build_app"
    # follow false: the follower Deployment is the alias's only controller on the cluster
    assert app["args"] == {"profile": "h100", "model_uri": "models:/ichigo-speech-llm@champion",
                           "follow": False}
    deps = {d["name"]: d for d in app["deployments"]}
    assert list(deps) == ["SpeechTokenizer", "LLM", "TTS", "Ingress"]
    assert deps["LLM"]["autoscaling_config"] == {"min_replicas": 1, "max_replicas": 8, "target_ongoing_requests": 8}
    assert deps["LLM"]["ray_actor_options"] == {"num_cpus": 8, "num_gpus": 1, "memory": 48 * 1024**3}
    assert deps["TTS"]["ray_actor_options"]["num_gpus"] == 0.25
    assert cfg["http_options"]["port"] == 8000


def test_profile_changes_flow_through():
    p = load_profile("local", overrides={
        "registry": {"model_name": "m"}, "serving": {"follow_alias": "canary", "deployments": {
            "llm": {"num_cpus": 3, "memory_gib": 0.5, "autoscaling": {"min_replicas": 0, "max_replicas": 5,
                                                                      "target_ongoing_requests": 1.5}}}}})
    app = build_serve_config(p)["applications"][0]
    assert app["args"]["model_uri"] == "models:/m@canary"
    llm = next(d for d in app["deployments"] if d["name"] == "LLM")
    assert llm["ray_actor_options"]["memory"] == 512 * 1024**2
    assert llm["autoscaling_config"] == {"min_replicas": 0, "max_replicas": 5, "target_ongoing_requests": 1.5}


def test_max_demand_sums_max_replicas():
    demand = max_resource_demand(build_serve_config(load_profile("h100")))
    # 8 LLM x 1 GPU + 4 x 0.25 (tokenizer) + 4 x 0.25 (TTS)
    assert demand["num_gpus"] == pytest.approx(10)
    assert demand["num_cpus"] == pytest.approx(8 * 8 + 4 * 4 + 4 * 4 + 4 * 2)
