"""The access policy of the HTTP face, as one pure ASGI middleware (pure ASGI, not
BaseHTTPMiddleware: responses stream through untouched).

For `/v1/*`, `/docs` and `/openapi.json` (the probes, `/metrics` and the voice page stay open):
1. CORS preflight, only if `serving.access.cors_origins` lists origins (off by default);
2. API key (serving/auth.py) -> 401 in OpenAI's error shape; WebSockets are closed with 1008;
3. per-key rate limit and in-flight cap (serving/limits.py) -> 429 with `Retry-After`;
4. the body must arrive within `body_timeout_s` and the response must start within
   `request_timeout_s`, else 408: a client trickling its body (slow loris) holds a cheap
   coroutine for a bounded time, never a model call.

The policy is per process: `Ingress.__init__` installs it with `configure(profile)`; until then
protected routes answer 503 (never open by accident).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from ichigo.config.sections import AccessConfig
from serving.auth import AuthError, authenticate, load_api_keys
from serving.limits import ConcurrencyCap, TokenBucket, retry_after
from serving.versions import new_request

log = logging.getLogger("ichigo.serving.access")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PROTECTED = ("/v1/", "/docs", "/openapi.json")


@dataclass
class Policy:
    cfg: AccessConfig
    keys: frozenset[str]
    max_body: int  # bytes buffered under the body deadline; beyond it the route's own 413 runs
    bucket: TokenBucket = field(init=False)
    cap: ConcurrencyCap = field(init=False)

    def __post_init__(self) -> None:
        self.bucket = TokenBucket(self.cfg.rate_per_minute, self.cfg.burst)
        self.cap = ConcurrencyCap(self.cfg.max_concurrent)

    @property
    def auth_required(self) -> bool:
        return bool(self.keys)


_POLICY: Policy | None = None


def configure(cfg: AccessConfig, max_body: int, keys: frozenset[str] | None = None) -> Policy:
    """Install this process's policy (keys from the environment unless given)."""
    global _POLICY
    _POLICY = Policy(cfg, load_api_keys() if keys is None else keys, max_body)
    if not _POLICY.keys:
        log.warning("no API keys configured: /v1/* is open (serve on 127.0.0.1 only)")
    return _POLICY


def current() -> Policy | None:
    return _POLICY


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}


async def _json(send: Send, status: int, body: dict, headers: dict[str, str] | None = None) -> None:
    raw = json.dumps(body).encode()
    hs = [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode())]
    hs += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": hs})
    await send({"type": "http.response.body", "body": raw})


def _error(message: str, type_: str, code: int | str) -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


class AccessMiddleware:
    def __init__(self, app: ASGIApp):
        self.app = app
        self._cors: tuple[tuple[str, ...], ASGIApp] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not scope["path"].startswith(PROTECTED):
            return await self.app(scope, receive, send)
        policy = _POLICY
        if policy is None:
            if scope["type"] == "websocket":
                return await send({"type": "websocket.close", "code": 1011})
            return await _json(send, 503, _error("the server is starting", "server_error", 503))
        if policy.cfg.cors_origins and scope["type"] == "http":
            return await self._with_cors(policy)(scope, receive, send)
        return await self._guarded(policy, scope, receive, send)

    def _with_cors(self, policy: Policy) -> ASGIApp:
        from starlette.middleware.cors import CORSMiddleware

        origins = tuple(policy.cfg.cors_origins)
        if self._cors is None or self._cors[0] != origins:
            inner = lambda s, r, se: self._guarded(policy, s, r, se)  # noqa: E731
            self._cors = (origins, CORSMiddleware(
                inner, allow_origins=list(origins), allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["authorization", "content-type"], max_age=600))
        return self._cors[1]

    async def _guarded(self, policy: Policy, scope: Scope, receive: Receive, send: Send) -> None:
        ws = scope["type"] == "websocket"
        try:
            kid = authenticate(_headers(scope), policy.keys)
        except AuthError as e:
            if ws:
                return await send({"type": "websocket.close", "code": 1008, "reason": e.message})
            return await _json(send, 401, e.body(), {"www-authenticate": 'Bearer realm="ichigo"'})
        if kid is None:  # no keys (loopback-only dev server): no per-key limits, timeouts still apply
            new_request()
            if ws:
                return await self.app(scope, receive, send)
            return await self._timed(policy, scope, receive, send)
        wait = policy.bucket.take(kid)
        if wait > 0:
            return await self._refuse(send, ws, f"rate limit of {policy.cfg.rate_per_minute} requests "
                                      "per minute for this key reached", retry_after(wait))
        if not policy.cap.acquire(kid):
            return await self._refuse(send, ws, f"this key already has {policy.cfg.max_concurrent} "
                                      "requests in flight", "1")
        new_request()  # per-request state the route's tasks share (serving/versions.py)
        try:
            if ws:
                return await self.app(scope, receive, send)
            await self._timed(policy, scope, receive, send)
        finally:
            policy.cap.release(kid)

    @staticmethod
    async def _refuse(send: Send, ws: bool, message: str, after: str) -> None:
        if ws:
            return await send({"type": "websocket.close", "code": 1013, "reason": message})
        await _json(send, 429, _error(message, "rate_limit_exceeded", 429), {"retry-after": after})

    async def _timed(self, policy: Policy, scope: Scope, receive: Receive, send: Send) -> None:
        cfg = policy.cfg
        buffered: list[dict] = []

        async def read_body() -> None:
            size = 0
            while True:
                msg = await receive()
                buffered.append(msg)
                if msg["type"] != "http.request" or not msg.get("more_body", False):
                    return
                size += len(msg.get("body", b""))
                if size > policy.max_body:
                    return  # the route streams the rest and answers its own 413

        try:
            await asyncio.wait_for(read_body(), cfg.body_timeout_s)
        except asyncio.TimeoutError:
            return await _json(send, 408, _error(
                f"the request body did not arrive within {cfg.body_timeout_s:g} s "
                "(serving.access.body_timeout_s)", "invalid_request_error", 408),
                {"connection": "close"})

        async def replay() -> dict:
            return buffered.pop(0) if buffered else await receive()

        started = asyncio.Event()

        async def watch(msg: dict) -> None:
            if msg["type"] == "http.response.start":
                started.set()
            await send(msg)

        task = asyncio.ensure_future(self.app(scope, replay, watch))
        starter = asyncio.ensure_future(started.wait())
        try:
            await asyncio.wait({task, starter}, timeout=cfg.request_timeout_s,
                               return_when=asyncio.FIRST_COMPLETED)
            if not started.is_set() and not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
                return await _json(send, 408, _error(
                    f"no response within {cfg.request_timeout_s:g} s (serving.access.request_timeout_s)",
                    "timeout", 408))
            await task  # streams on after the start; its exceptions are the route's to report
        finally:
            starter.cancel()
            if not task.done():  # we were cancelled (client gone): so is the route
                task.cancel()


__all__ = ["AccessMiddleware", "Policy", "configure", "current", "PROTECTED"]
