"""One Ray instance and one running app for all serving tests (Ray is heavy on 2 cores)."""

from __future__ import annotations

import time

import httpx
import pytest

from ichigo.ports import free_port
from tests.conftest import need_binary

# small resource asks so the whole graph (2 LLM replicas for the failover test) fits on 2 cores
TEST_OVERRIDES = {"serving": {
    "max_audio_seconds": 6.0, "max_upload_bytes": 400_000, "max_new_tokens": 32,
    "deployments": {
        "speech_tokenizer": {"num_cpus": 0.25, "memory_gib": 0.5,
                             "autoscaling": {"min_replicas": 1, "max_replicas": 2}},
        "llm": {"num_cpus": 0.5, "memory_gib": 0.75,
                "autoscaling": {"min_replicas": 2, "max_replicas": 2, "target_ongoing_requests": 2}},
        "tts": {"num_cpus": 0.25, "memory_gib": 0.25,
                "autoscaling": {"min_replicas": 1, "max_replicas": 1}},
        "ingress": {"num_cpus": 0.1, "memory_gib": 0.25,
                    "autoscaling": {"min_replicas": 1, "max_replicas": 1}},
    }}}


@pytest.fixture(scope="session")
def ray_session():
    from serving.local import start_ray, stop_ray

    start_ray(num_cpus=4)
    yield
    stop_ray()


@pytest.fixture(scope="session")
def http_port(ray_session) -> int:
    from ray import serve

    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    return port


def wait_ready(url: str, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            r = httpx.get(url + "/readyz", timeout=15)
            if r.status_code == 200:
                return r.json()
            last = r.text
        except httpx.HTTPError as e:
            last = repr(e)
        time.sleep(1.0)
    raise AssertionError(f"app never became ready: {last}")


@pytest.fixture(scope="session")
def served(tiny_package, http_port):
    """(base URL, profile) of the app serving `tiny_package` at route /."""
    need_binary("espeak-ng")
    from ray import serve

    from ichigo.config import load_profile
    from serving.app import build_app

    profile = load_profile("local", overrides=TEST_OVERRIDES)
    serve.run(build_app({"profile": profile, "model_uri": str(tiny_package)}), name="ichigo",
              route_prefix="/", blocking=False)
    url = f"http://127.0.0.1:{http_port}"
    wait_ready(url)
    yield url, profile
    serve.delete("ichigo")
