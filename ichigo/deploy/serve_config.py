"""Ray Serve's application config (the RayService `serveConfigV2`), generated from a profile.

One application `ichigo` whose four deployments map 1:1 onto `profile.serving.deployments`; the
model is addressed by registry alias, so promoting a version in MLflow changes what is served
without touching this config.
"""

from __future__ import annotations

from typing import Any

from ichigo.config import Profile

APP_NAME = "ichigo"
IMPORT_PATH = "serving.app:build_app"
# profile key -> Ray Serve deployment name (the class names in serving/)
DEPLOYMENT_NAMES = {
    "speech_tokenizer": "SpeechTokenizer",
    "llm": "LLM",
    "tts": "TTS",
    "ingress": "Ingress",
}
GIB = 1024**3


def model_uri(profile: Profile) -> str:
    return f"models:/{profile.registry.model_name}@{profile.serving.follow_alias}"


def _number(x: float) -> int | float:
    # 1.0 -> 1 keeps the YAML readable; fractional GPUs/CPUs stay floats
    return int(x) if float(x).is_integer() else x


def build_serve_config(profile: Profile) -> dict[str, Any]:
    """The `serveConfigV2` mapping for `profile` (Ray Serve config file schema)."""
    deployments = []
    for key, name in DEPLOYMENT_NAMES.items():
        d = profile.serving.deployments[key]
        a = d.autoscaling
        deployments.append({
            "name": name,
            "autoscaling_config": {
                "min_replicas": a.min_replicas,
                "max_replicas": a.max_replicas,
                "target_ongoing_requests": _number(a.target_ongoing_requests),
            },
            "ray_actor_options": {
                "num_cpus": _number(d.num_cpus),
                "num_gpus": _number(d.num_gpus),
                "memory": int(round(d.memory_gib * GIB)),
            },
        })
    return {
        "http_options": {"host": "0.0.0.0", "port": profile.serving.port},
        "applications": [{
            "name": APP_NAME,
            "route_prefix": "/",
            "import_path": IMPORT_PATH,
            # one controller per alias: on the cluster the follower Deployment moves the
            # RayService to each pinned version; replicas only resolve the alias when they start
            "args": {"profile": profile.name, "model_uri": model_uri(profile), "follow": False},
            "deployments": deployments,
        }],
    }


def max_resource_demand(serve_config: dict[str, Any]) -> dict[str, float]:
    """CPUs, GPUs and memory (bytes) all deployments need at their max replicas: what the Ray
    worker group must be able to provide when autoscaled out."""
    total = {"num_cpus": 0.0, "num_gpus": 0.0, "memory": 0.0}
    for app in serve_config["applications"]:
        for dep in app["deployments"]:
            n = dep["autoscaling_config"]["max_replicas"]
            for k in total:
                total[k] += n * dep["ray_actor_options"].get(k, 0)
    return total
