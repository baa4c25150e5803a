"""The `/v1/realtime` WebSocket handler: session cap, then one RealtimeSession. The API key was
checked before the upgrade by the access middleware (serving/access.py), as on every /v1 route."""

from __future__ import annotations

import logging

from ichigo.config import ServingConfig
from serving.realtime.backend import Backend
from serving.auth import WS_KEY_PROTOCOL
from serving.realtime.limits import RealtimeMetrics, SessionSlots
from serving.realtime.protocol import ProtocolError
from serving.realtime.session import RealtimeSession

log = logging.getLogger("ichigo.serving.realtime")
TRY_AGAIN_LATER = 1013  # WebSocket close code


async def serve_realtime(ws, backend: Backend, cfg: ServingConfig, slots: SessionSlots,
                         metrics: RealtimeMetrics) -> None:
    offered = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
    # answer with a protocol the client offered, never the one carrying the key
    chosen = next((p for p in offered if not p.startswith(WS_KEY_PROTOCOL)), None)
    await ws.accept(subprotocol=chosen)
    # refusals are events (then a close), so browser clients can read why: a failed handshake
    # only shows them "connection failed"
    if not slots.try_acquire():
        await _refuse(ws, ProtocolError("session_limit_reached", f"this replica serves {slots.limit} realtime "
                                        "sessions already (serving.realtime.max_sessions); retry shortly",
                                        type="server_error"), TRY_AGAIN_LATER)
        return
    try:
        beta = ws.headers.get("openai-beta", "").replace(" ", "").startswith("realtime=v1")
        await RealtimeSession(ws, backend, cfg, metrics, beta=beta).serve()
    except Exception:  # noqa: BLE001 - a broken socket ends only this session
        log.debug("realtime session ended with an error", exc_info=True)
    finally:
        slots.release()


async def _refuse(ws, err: ProtocolError, code: int) -> None:
    import json

    try:
        await ws.send_text(json.dumps(err.event()))
        await ws.close(code)
    except Exception:  # noqa: BLE001 - the client may be gone already
        pass


__all__ = ["serve_realtime"]
