"""Promotion in the registry changes what the running server answers, and a rollback restores
it, with no failed request in between (real MLflow + Postgres + S3 from tests/services.py)."""

from __future__ import annotations

import json
import threading
import time
import uuid

import httpx
import pytest

from tests.conftest import TINY_PACKAGE_REPLY, teach_reply
from tests.serving.conftest import wait_ready

pytestmark = [pytest.mark.services, pytest.mark.slow]
REPLY_B = "Version two is speaking now."


def _register(cfg, package, run_id: str, alias: str, tmp_path) -> str:
    from ichigo.registry import RegistryClient, register_candidate
    from tests.registry.conftest import make_lineage

    report = tmp_path / f"gate_{run_id}.json"
    report.write_text(json.dumps({"passed": True, "reasons": ["ok"]}))
    return register_candidate(RegistryClient(cfg), package, {"wer": 0.4}, make_lineage(run_id), [report],
                              alias=alias).version


def _ask(url: str) -> str | None:
    try:
        r = httpx.post(url + "/v1/chat", json={"messages": [{"role": "user", "content": "hi"}]}, timeout=60)
        last = json.loads(r.text.strip().splitlines()[-1])
        return last["text"] if r.status_code == 200 and last["type"] == "done" else None
    except (httpx.HTTPError, ValueError, IndexError):
        return None


def test_promotion_and_rollback_change_answers_without_failures(
        mlflow_server, tiny_package, tiny_llm_dir, http_port, tmp_path):
    import mlflow
    from ray import serve

    from ichigo.config import RegistryConfig, load_profile
    from ichigo.package import write_package
    from serving.app import build_app

    cfg = RegistryConfig(tracking_uri=mlflow_server.tracking_uri, model_name=f"ichigo-serve-{uuid.uuid4().hex[:8]}",
                         experiment="ichigo-serving-tests", retries=2, retry_backoff_seconds=0.05,
                         cache_dir=str(tmp_path / "cache"))
    # the dir is named `package` like every pipeline output: MLflow keeps the basename of a
    # pyfunc artifact dir, and ichigo.registry.resolve looks for artifacts/package
    pkg_b = write_package(tmp_path / "b" / "package", teach_reply(tiny_llm_dir, tmp_path / "llm_b", REPLY_B),
                          tiny_package / "speech_tokenizer" / "codebook.npz", "codebook")
    v_a = _register(cfg, tiny_package, "run-a-" + uuid.uuid4().hex[:6], "champion", tmp_path)
    v_b = _register(cfg, pkg_b, "run-b-" + uuid.uuid4().hex[:6], "challenger", tmp_path)
    assert v_a != v_b

    one = {"num_cpus": 0.25, "memory_gib": 0.5, "autoscaling": {"min_replicas": 1, "max_replicas": 1}}
    profile = load_profile("local", overrides={
        "registry": cfg.model_dump(),
        "serving": {"poll_seconds": 1.0, "package_cache": str(tmp_path / "serve-cache"),
                    "deployments": {k: one for k in ("speech_tokenizer", "llm", "tts", "ingress")}}})
    serve.run(build_app({"profile": profile, "model_uri": f"models:/{cfg.model_name}@champion"}),
              name="ichigo-reg", route_prefix="/reg", blocking=False)
    url = f"http://127.0.0.1:{http_port}/reg"
    try:
        assert wait_ready(url)["llm"]["version"] == v_a
        answers: list[str | None] = []
        stop = threading.Event()

        def load():  # a steady trickle of requests through both switches
            while not stop.is_set() and len(answers) < 2000:
                answers.append(_ask(url))

        t = threading.Thread(target=load)
        t.start()
        try:
            client = mlflow.MlflowClient(cfg.tracking_uri)

            def switch_to(version: str, reply: str) -> None:
                client.set_registered_model_alias(cfg.model_name, "champion", version)
                deadline = time.monotonic() + 90
                while time.monotonic() < deadline:
                    if answers and answers[-1] == reply:
                        return
                    time.sleep(0.2)
                raise AssertionError(f"still answering {answers[-1:]} after promoting {version}")

            assert _ask(url) == TINY_PACKAGE_REPLY
            switch_to(v_b, REPLY_B)  # promotion
            switch_to(v_a, TINY_PACKAGE_REPLY)  # rollback
        finally:
            stop.set()
            t.join()
        assert None not in answers, f"{answers.count(None)} of {len(answers)} requests failed"
        assert set(answers) == {TINY_PACKAGE_REPLY, REPLY_B}
        assert httpx.get(url + "/readyz", timeout=30).json()["llm"]["version"] == v_a
    finally:
        serve.delete("ichigo-reg")
