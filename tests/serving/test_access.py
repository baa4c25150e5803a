"""API keys, per-key limits, timeouts and CORS (serving/auth.py, limits.py, access.py) on a small
FastAPI app with the same middleware as the ingress, without Ray."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI, Request

from ichigo.config.sections import AccessConfig
from ichigo.errors import ConfigError
from serving import access
from serving.auth import AuthError, authenticate, key_id, load_api_keys
from serving.limits import ConcurrencyCap, TokenBucket

KEY_A, KEY_B = "sk-test-aaaaaaaaaaaaaaaa", "sk-test-bbbbbbbbbbbbbbbb"


def make_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(access.AccessMiddleware)

    @app.get("/healthz")
    async def healthz():
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics():
        return {"m": 1}

    @app.post("/v1/echo")
    async def echo(request: Request):
        return {"n": len(await request.body())}

    @app.get("/v1/slow")
    async def slow(s: float = 0.0):
        await asyncio.sleep(s)
        return {"slept": s}

    return app


@pytest.fixture
def client():
    def make(keys=frozenset({KEY_A, KEY_B}), **cfg):
        access.configure(AccessConfig(**cfg), max_body=1_000_000, keys=frozenset(keys))
        return httpx.AsyncClient(transport=httpx.ASGITransport(make_app()), base_url="http://t")
    yield make
    access._POLICY = None


def run(coro):
    return asyncio.run(coro)


def bearer(k):
    return {"Authorization": f"Bearer {k}"}


def test_missing_or_wrong_key_is_401_in_openai_shape_and_probes_stay_open(client):
    async def go():
        async with client() as c:
            r = await c.post("/v1/echo", content=b"x")
            assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
            assert "Bearer" in r.json()["error"]["message"]
            r = await c.post("/v1/echo", content=b"x", headers=bearer("sk-wrong-cccccccccccccc"))
            assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
            assert (await c.get("/docs")).status_code == 401
            assert (await c.get("/openapi.json")).status_code == 401
            assert (await c.get("/healthz")).status_code == 200
            assert (await c.get("/metrics")).status_code == 200
            r = await c.post("/v1/echo", content=b"xyz", headers=bearer(KEY_A))
            assert r.status_code == 200 and r.json() == {"n": 3}
    run(go())


def test_unconfigured_policy_fails_closed(client):
    async def go():
        async with client() as c:
            access._POLICY = None
            assert (await c.post("/v1/echo", content=b"x", headers=bearer(KEY_A))).status_code == 503
    run(go())


def test_rate_limit_is_per_key_with_retry_after(client):
    async def go():
        async with client(rate_per_minute=60, burst=2) as c:
            codes = [(await c.post("/v1/echo", content=b"x", headers=bearer(KEY_A))).status_code
                     for _ in range(3)]
            assert codes == [200, 200, 429]
            r = await c.post("/v1/echo", content=b"x", headers=bearer(KEY_A))
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
            assert r.json()["error"]["type"] == "rate_limit_exceeded"
            assert (await c.post("/v1/echo", content=b"x", headers=bearer(KEY_B))).status_code == 200
    run(go())


def test_concurrency_cap_is_per_key(client):
    async def go():
        async with client(max_concurrent=1, rate_per_minute=0) as c:
            slow = asyncio.ensure_future(c.get("/v1/slow?s=0.5", headers=bearer(KEY_A)))
            await asyncio.sleep(0.1)
            r = await c.get("/v1/slow", headers=bearer(KEY_A))
            assert r.status_code == 429 and r.headers["retry-after"] == "1"
            assert (await c.get("/v1/slow", headers=bearer(KEY_B))).status_code == 200
            assert (await slow).status_code == 200
            assert (await c.get("/v1/slow", headers=bearer(KEY_A))).status_code == 200  # released
    run(go())


def test_request_timeout_is_408(client):
    async def go():
        async with client(request_timeout_s=0.2) as c:
            r = await c.get("/v1/slow?s=5", headers=bearer(KEY_A))
            assert r.status_code == 408 and "request_timeout_s" in r.json()["error"]["message"]
    run(go())


def test_body_read_timeout_is_408(client):
    async def trickle():
        yield b"a"
        await asyncio.sleep(1.0)
        yield b"b"

    async def go():
        async with client(body_timeout_s=0.2) as c:
            r = await c.post("/v1/echo", content=trickle(), headers=bearer(KEY_A))
            assert r.status_code == 408 and "body_timeout_s" in r.json()["error"]["message"]
    run(go())


def test_cors_off_by_default_and_configurable(client):
    pre = {"Origin": "https://app.example", "Access-Control-Request-Method": "POST",
           "Access-Control-Request-Headers": "authorization"}

    async def go():
        async with client() as c:
            r = await c.options("/v1/echo", headers=pre)
            assert "access-control-allow-origin" not in r.headers
        async with client(cors_origins=["https://app.example"]) as c:
            r = await c.options("/v1/echo", headers=pre)
            assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://app.example"
            r = await c.post("/v1/echo", content=b"x", headers={**bearer(KEY_A), "Origin": "https://app.example"})
            assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "https://app.example"
            r = await c.options("/v1/echo", headers={**pre, "Origin": "https://evil.example"})
            assert r.headers.get("access-control-allow-origin") != "https://evil.example"
    run(go())


def test_no_keys_means_open_loopback_mode(client):
    async def go():
        async with client(keys=frozenset(), rate_per_minute=60, burst=1, request_timeout_s=0.2) as c:
            # open, and no per-key limits (there is no key); the timeouts still hold
            assert [(await c.post("/v1/echo", content=b"x")).status_code for _ in range(3)] == [200] * 3
            assert (await c.get("/v1/slow?s=5")).status_code == 408
    run(go())


def test_key_loading_and_errors_name_the_variable(tmp_path):
    f = tmp_path / "keys"
    f.write_text(f"# rotated 2026-12\n{KEY_A}\n\n{KEY_B}\n")
    assert load_api_keys({"ICHIGO_API_KEYS_FILE": str(f)}) == {KEY_A, KEY_B}
    assert load_api_keys({"ICHIGO_API_KEYS": f"{KEY_A}, {KEY_B}"}) == {KEY_A, KEY_B}
    assert load_api_keys({}) == frozenset()
    cases = [({"ICHIGO_API_KEYS": "short"}, "ICHIGO_API_KEYS"),
             ({"ICHIGO_API_KEYS": " , ,"}, "ICHIGO_API_KEYS"),
             ({"ICHIGO_API_KEYS_FILE": str(tmp_path / "missing")}, "ICHIGO_API_KEYS_FILE"),
             ({"ICHIGO_REQUIRE_API_KEYS": "1"}, "ICHIGO_REQUIRE_API_KEYS")]
    empty = tmp_path / "empty"
    empty.write_text("# no keys yet\n")
    cases.append(({"ICHIGO_API_KEYS_FILE": str(empty)}, "holds no key"))
    spaced = tmp_path / "spaced"
    spaced.write_text(f"{KEY_A} {KEY_B}\n")
    cases.append(({"ICHIGO_API_KEYS_FILE": str(spaced)}, "line 1"))
    for env, words in cases:
        with pytest.raises(ConfigError, match=words):
            load_api_keys(env)


def test_authenticate_for_websockets_and_headers():
    keys = frozenset({KEY_A})
    assert authenticate({"authorization": f"Bearer {KEY_A}"}, keys) == key_id(KEY_A)
    assert authenticate({"sec-websocket-protocol": f"realtime, openai-insecure-api-key.{KEY_A}"},
                        keys) == key_id(KEY_A)
    assert authenticate({}, frozenset()) is None
    with pytest.raises(AuthError):
        authenticate({"authorization": f"Basic {KEY_A}"}, keys)
    assert KEY_A not in key_id(KEY_A)


def test_token_bucket_and_cap_units():
    now = [0.0]
    b = TokenBucket(60, 2, clock=lambda: now[0])
    assert [b.take("k") for _ in range(2)] == [0.0, 0.0]
    assert b.take("k") == pytest.approx(1.0)
    now[0] = 1.0
    assert b.take("k") == 0.0
    cap = ConcurrencyCap(1)
    assert cap.acquire("k") and not cap.acquire("k")
    cap.release("k")
    assert cap.acquire("k")
