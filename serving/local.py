"""Ray in-process for a laptop or a test (always a new local instance): auth off (Ray 2.60 enables token auth by default and
the local serve proxy would then refuse our own calls), small object store, no dashboard."""

from __future__ import annotations

import os

from ichigo.config import Profile
from ichigo.deploy.serve_config import build_serve_config, max_resource_demand

OBJECT_STORE_BYTES = 200 * 1024**2

# Ray Serve's data-plane settings from its throughput-optimized mode that apply without HAProxy or
# direct ingress: the proxy talks gRPC to the ingress, and each replica runs user code and its
# handle router on its main event loop (no cross-thread hop per message). Measured on the
# spoken-turn benchmark: ~10 ms less end-to-end and ~5 ms less to first token on 2 cores.
# Read by every Ray process at start-up (ray.init passes this environment on to the raylet and
# workers); the cluster sets the same variables on the Ray pods (manifests/, helm/).
SERVE_ENV = {
    "RAY_SERVE_PROXY_USE_GRPC": "1",
    "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0",
    "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "0",
}


def start_ray(profile: Profile | None = None, num_cpus: float | None = None) -> None:
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    for k, v in SERVE_ENV.items():
        os.environ.setdefault(k, v)
    need = max_resource_demand(build_serve_config(profile)) if profile is not None else {}
    # logical CPUs may exceed the physical ones: replicas mostly wait on I/O or each other, and a
    # local run must be able to place the profile's max replica counts
    cpus = num_cpus or max(os.cpu_count() or 1, int(need.get("num_cpus", 0)) + 1)
    ray.init(address="local", num_cpus=cpus, num_gpus=int(need.get("num_gpus", 0)) or None,
             object_store_memory=OBJECT_STORE_BYTES,
             _memory=int(max(need.get("memory", 0), 4 * 1024**3)) + 1024**3,
             include_dashboard=False, log_to_driver=False, configure_logging=True,
             logging_level="warning")


def stop_ray() -> None:
    import ray
    from ray import serve

    try:
        serve.shutdown()
    finally:
        ray.shutdown()
