"""Kill one of two LLM replicas while requests run: at least 99% still succeed."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

pytestmark = pytest.mark.slow


def _llm_replica_actors() -> list[dict]:
    import ray

    # GCS actor table (works without the dashboard); Serve names replicas ServeReplica:<app>:<dep>
    return [a for a in ray._private.state.actors().values()
            if a["State"] == "ALIVE" and a["ActorClassName"] == "ServeReplica:ichigo:LLM"]


def _one(url: str) -> bool:
    try:
        r = httpx.post(url + "/v1/chat", json={"messages": [{"role": "user", "content": "hi"}]},
                       timeout=60)
        last = json.loads(r.text.strip().splitlines()[-1])
        return r.status_code == 200 and last["type"] == "done" and bool(last["text"])
    except (httpx.HTTPError, ValueError, IndexError):
        return False


def test_kill_llm_replica_under_load(served):
    import ray

    url = served[0]
    actors = _llm_replica_actors()
    assert len(actors) == 2, actors
    n_requests, results = 160, []
    done = threading.Event()

    def killer():
        while len(results) < 20 and not done.is_set():  # kill once the load is flowing
            time.sleep(0.05)
        ray.kill(ray.get_actor(actors[0]["Name"], namespace="serve"), no_restart=True)

    t = threading.Thread(target=killer)
    t.start()
    with ThreadPoolExecutor(4) as pool:
        for ok in pool.map(lambda _: _one(url), range(n_requests)):
            results.append(ok)
    done.set()
    t.join()
    assert sum(results) >= 0.99 * n_requests, f"{results.count(False)} of {n_requests} failed"
    # Serve replaces the dead replica (min_replicas=2); later tests get the full graph back
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(_llm_replica_actors()) < 2:
        time.sleep(1)
    assert len(_llm_replica_actors()) == 2
    m = httpx.get(url + "/metrics").text
    assert "ichigo_llm_failovers_total" in m
