"""Session lifetimes from the profile (idle, maximum), on a RealtimeSession with an in-memory
socket; the model calls are not reached (no audio or response in these sessions)."""

from __future__ import annotations

import asyncio
import json
import time

from ichigo.config import load_profile
from serving.realtime.limits import RealtimeMetrics
from serving.realtime.session import RealtimeSession


class MemorySocket:
    def __init__(self):
        self.inbox: asyncio.Queue = asyncio.Queue()
        self.sent: list[dict] = []
        self.closed_with: int | None = None

    async def receive(self) -> dict:
        return await self.inbox.get()

    async def send_text(self, text: str) -> None:
        self.sent.append(json.loads(text))

    async def close(self, code: int = 1000) -> None:
        self.closed_with = code


class NoModel:
    model_name, voices = "m", ["en-us"]


def _run(idle: float, max_s: float, keepalive: float | None) -> tuple[MemorySocket, float]:
    from prometheus_client import CollectorRegistry

    cfg = load_profile("local", overrides={"serving": {"realtime": {"idle_timeout_s": idle,
                                                                    "max_session_s": max_s}}}).serving

    async def main():
        ws = MemorySocket()
        s = RealtimeSession(ws, NoModel(), cfg, RealtimeMetrics(CollectorRegistry()))

        async def client():
            while keepalive:
                await asyncio.sleep(keepalive)
                ws.inbox.put_nowait({"type": "websocket.receive", "text": json.dumps(
                    {"type": "input_audio_buffer.clear"})})

        c = asyncio.ensure_future(client())
        t0 = time.monotonic()
        await asyncio.wait_for(s.serve(), 10)
        c.cancel()
        return ws, time.monotonic() - t0

    return asyncio.run(main())


def test_idle_session_is_ended_with_an_error_event():
    ws, took = _run(idle=0.3, max_s=60, keepalive=None)
    assert 0.25 <= took < 2
    assert ws.sent[0]["type"] == "session.created"
    assert ws.sent[-1]["type"] == "error" and ws.sent[-1]["error"]["code"] == "session_expired"
    assert "idle" in ws.sent[-1]["error"]["message"] and ws.closed_with == 1000


def test_active_session_still_ends_at_its_maximum_lifetime():
    ws, took = _run(idle=0.3, max_s=0.8, keepalive=0.1)
    assert 0.7 <= took < 3
    assert any(e["type"] == "input_audio_buffer.cleared" for e in ws.sent)
    assert ws.sent[-1]["error"]["code"] == "session_expired" and "maximum" in ws.sent[-1]["error"]["message"]
