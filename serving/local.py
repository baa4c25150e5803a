"""Ray in-process for a laptop or a test (always a new local instance): auth off (Ray 2.60 enables token auth by default and
the local serve proxy would then refuse our own calls), small object store, no dashboard."""

from __future__ import annotations

import os

from ichigo.config import Profile
from ichigo.deploy.serve_config import build_serve_config, max_resource_demand

OBJECT_STORE_BYTES = 200 * 1024**2


def start_ray(profile: Profile | None = None, num_cpus: float | None = None) -> None:
    import ray

    if ray.is_initialized():
        return
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
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
