"""API keys for /v1/*: OpenAI-style `Authorization: Bearer <key>`.

Keys come from `ICHIGO_API_KEYS` (comma-separated) and/or the file named by
`ICHIGO_API_KEYS_FILE` (a mounted Kubernetes Secret: one key per line, `#` comments). With
`ICHIGO_REQUIRE_API_KEYS=1` (set on the cluster's Ray pods) an empty key set is a start-up error,
so a cluster can never serve unauthenticated. `authenticate` is the one check every route uses,
HTTP or WebSocket.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from pathlib import Path
from typing import Mapping

from ichigo.errors import ConfigError

KEYS_ENV, FILE_ENV, REQUIRE_ENV = "ICHIGO_API_KEYS", "ICHIGO_API_KEYS_FILE", "ICHIGO_REQUIRE_API_KEYS"
# what a header can carry unchanged: printable ASCII, no spaces or commas
_KEY = re.compile(r"^[\x21-\x2b\x2d-\x7e]{16,256}$")
# browsers cannot set headers on a WebSocket; OpenAI's Realtime API takes the key as a subprotocol
WS_KEY_PROTOCOL = "openai-insecure-api-key."


class AuthError(Exception):
    """Missing or wrong key (HTTP 401 in OpenAI's error shape)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": "invalid_request_error", "param": None,
                          "code": "invalid_api_key"}}


def _check(key: str, where: str) -> str:
    if not _KEY.match(key):
        raise ConfigError(f"{where}: an API key must be 16..256 printable ASCII characters without "
                          f"spaces or commas (got {len(key)} characters)")
    return key


def load_api_keys(env: Mapping[str, str] | None = None) -> frozenset[str]:
    """The configured keys; a malformed value fails here, naming the variable (and line)."""
    env = os.environ if env is None else env
    keys: set[str] = set()
    raw = env.get(KEYS_ENV, "")
    if raw.strip():
        keys |= {_check(k.strip(), KEYS_ENV) for k in raw.split(",") if k.strip()}
        if not keys:
            raise ConfigError(f"{KEYS_ENV} holds no key (only commas)")
    path = env.get(FILE_ENV, "").strip()
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{FILE_ENV}={path}: cannot read the key file ({type(e).__name__}: {e})") from None
        found = {_check(line.strip(), f"{FILE_ENV}={path} line {i}")
                 for i, line in enumerate(text.splitlines(), 1)
                 if line.strip() and not line.lstrip().startswith("#")}
        if not found:
            raise ConfigError(f"{FILE_ENV}={path}: the key file holds no key (one key per line)")
        keys |= found
    if not keys and env.get(REQUIRE_ENV, "").strip().lower() in ("1", "true", "yes"):
        raise ConfigError(f"{REQUIRE_ENV} is set but no API key is configured: set {KEYS_ENV} or "
                          f"mount a key file and point {FILE_ENV} at it")
    return frozenset(keys)


def key_id(key: str) -> str:
    """A stable, non-secret name for a key (rate-limit buckets, logs, metrics)."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def bearer(headers: Mapping[str, str]) -> str | None:
    """The key of `Authorization: Bearer <key>`, or of an `openai-insecure-api-key.<key>`
    WebSocket subprotocol."""
    auth = headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    for proto in headers.get("sec-websocket-protocol", "").split(","):
        proto = proto.strip()
        if proto.startswith(WS_KEY_PROTOCOL):
            return proto[len(WS_KEY_PROTOCOL):]
    return None


def authenticate(headers: Mapping[str, str], keys: frozenset[str]) -> str | None:
    """The caller's key id, None when no keys are configured (auth off: local, loopback only),
    or AuthError. Every configured key is compared in constant time."""
    if not keys:
        return None
    given = bearer(headers)
    if given is None:
        raise AuthError("missing API key: send 'Authorization: Bearer <key>'")
    ok = False
    for k in keys:  # no early exit: timing does not reveal which key nearly matched
        ok |= hmac.compare_digest(given.encode(), k.encode())
    if not ok:
        raise AuthError("incorrect API key provided")
    return key_id(given)


def loopback(host: str | None) -> bool:
    return host in ("127.0.0.1", "::1", "localhost")


__all__ = ["AuthError", "FILE_ENV", "KEYS_ENV", "REQUIRE_ENV", "WS_KEY_PROTOCOL", "authenticate",
           "bearer", "key_id", "load_api_keys", "loopback"]
