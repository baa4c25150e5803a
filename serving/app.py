"""`build_app(args)`: the Ray Serve application builder (`serve run serving.app:build_app
profile=local model_uri=...`, KubeRay serveConfigV2 `import_path: serving.app:build_app`).

Deployment names, resources and autoscaling come from `profile.serving.deployments`, the same
source `ichigo.deploy.serve_config` renders for the cluster, so the two cannot drift.
"""

from __future__ import annotations

from typing import Any

from ray import serve
from ray.serve import Application

from ichigo.config import Profile, load_profile
from ichigo.deploy.serve_config import DEPLOYMENT_NAMES, GIB
from ichigo.errors import ConfigError
from serving.auth import load_api_keys
from serving.ingress import Ingress
from serving.model_source import require_model_uri
from serving.models import LLMDeployment, SpeechTokenizerDeployment, TTSDeployment

# requests one replica takes before the router sends more elsewhere (autoscaling looks at the
# same queue). The torch engine generates one reply at a time: one running + one ready to start
# the moment it ends; more would wait inside a busy replica while another may be free (the
# router's queue is the better place). vLLM batches continuously, so its replicas take many.
MAX_ONGOING = {"speech_tokenizer": 8, "llm": 2, "tts": 8, "ingress": 64}
MAX_ONGOING_VLLM = 64


def deployment_options(profile: Profile, key: str) -> dict[str, Any]:
    d = profile.serving.deployments[key]
    a = d.autoscaling
    return {
        "name": DEPLOYMENT_NAMES[key],
        "ray_actor_options": {"num_cpus": d.num_cpus, "num_gpus": d.num_gpus,
                              "memory": int(d.memory_gib * GIB)},
        "autoscaling_config": {"min_replicas": a.min_replicas, "max_replicas": a.max_replicas,
                               "initial_replicas": max(a.min_replicas, 1),
                               "target_ongoing_requests": a.target_ongoing_requests,
                               # react within seconds: a voice user will not wait a minute
                               "upscale_delay_s": 2.0, "downscale_delay_s": 30.0},
        "max_ongoing_requests": max(_max_ongoing(profile, key), int(a.target_ongoing_requests * 2)),
        "health_check_period_s": 5.0,
        "graceful_shutdown_timeout_s": 10.0,
    }


def _max_ongoing(profile: Profile, key: str) -> int:
    if key == "llm" and profile.serving.engine == "vllm":
        return MAX_ONGOING_VLLM
    return MAX_ONGOING[key]


def _profile(args: dict[str, Any]) -> Profile:
    p = args.get("profile", "local")
    if isinstance(p, Profile):
        return p
    if isinstance(p, dict):
        return Profile.model_validate(p)
    overrides = args.get("overrides")
    if overrides is not None and not isinstance(overrides, dict):
        raise ConfigError("args.overrides must be a mapping of profile sections")
    return load_profile(str(p), overrides=overrides)


def build_app(args: dict[str, Any]) -> Application:
    """args: `profile` (name, YAML path, or Profile), `model_uri` (package dir or models:/name@alias),
    optional `follow` (default true: follow the alias of a models:/ URI) and `overrides`."""
    if not isinstance(args, dict):
        raise ConfigError("build_app takes a dict of args: {profile, model_uri}")
    profile = _profile(args)
    # a malformed key file, or no key where ICHIGO_REQUIRE_API_KEYS is set (the cluster), fails
    # the deploy here naming the variable, before any replica starts
    load_api_keys()
    src = require_model_uri(args)
    src.check()
    follow = str(args.get("follow", True)).lower() not in ("false", "0", "no")
    speech = serve.deployment(SpeechTokenizerDeployment).options(
        **deployment_options(profile, "speech_tokenizer")).bind(profile, src.uri, follow)
    llm = serve.deployment(LLMDeployment).options(**deployment_options(profile, "llm")).bind(
        profile, src.uri, follow)
    tts = serve.deployment(TTSDeployment).options(**deployment_options(profile, "tts")).bind(profile)
    return serve.deployment(Ingress).options(**deployment_options(profile, "ingress")).bind(
        speech, llm, tts, profile)
