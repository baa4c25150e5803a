"""`/v1/realtime` against the served tiny package, driven by the official `openai` client's realtime
connection (unchanged) and by raw WebSocket frames for bad input."""

from __future__ import annotations

import asyncio
import base64
import json
import time

import numpy as np
import pytest

from tests.serving.helpers import speech_wave

pytestmark = pytest.mark.slow

PCM_RATE = 24000
SESSION = {"type": "realtime", "instructions": "", "output_modalities": ["audio"],
           "audio": {"input": {"format": {"type": "audio/pcm", "rate": PCM_RATE},
                               "turn_detection": {"type": "server_vad", "threshold": 0.5,
                                                  "prefix_padding_ms": 300, "silence_duration_ms": 400}},
                     "output": {"format": {"type": "audio/pcm", "rate": PCM_RATE}, "voice": "alloy"}}}


def pcm24(text: str, silence_after_s: float = 1.0) -> bytes:
    from ichigo.audio import resample

    w = np.concatenate([np.zeros(3200, np.float32), speech_wave(text),
                        np.zeros(int(16000 * silence_after_s), np.float32)])
    return (np.clip(resample(w, 16000, PCM_RATE), -1, 1) * 32767).astype("<i2").tobytes()


def chunks(pcm: bytes, ms: int = 100):
    step = PCM_RATE * 2 * ms // 1000
    for i in range(0, len(pcm), step):
        yield base64.b64encode(pcm[i:i + step]).decode()


async def recv_until(conn, stop, timeout: float = 60.0) -> list:
    events = []
    deadline = time.monotonic() + timeout
    while True:
        ev = await asyncio.wait_for(conn.recv(), max(0.1, deadline - time.monotonic()))
        events.append(ev)
        if stop(ev):
            return events


def ws_url(url: str) -> str:
    return url.replace("http://", "ws://") + "/v1/realtime"


def test_openai_client_voice_turn_then_barge_in(served):
    from openai import AsyncOpenAI

    url = served[0]

    async def main():
        client = AsyncOpenAI(api_key="unused", base_url=url + "/v1")
        async with client.realtime.connect(model="ichigo") as conn:
            first = await conn.recv()
            assert first.type == "session.created"
            await conn.session.update(session=SESSION)
            upd = await recv_until(conn, lambda e: e.type == "session.updated")
            td = upd[-1].session.audio.input.turn_detection
            assert td.silence_duration_ms == 400 and upd[-1].session.audio.output.voice == "alloy"

            for c in chunks(pcm24("What is the capital of France?")):
                await conn.input_audio_buffer.append(audio=c)
            events = await recv_until(conn, lambda e: e.type == "response.done")
            types = [e.type for e in events]
            for t in ("input_audio_buffer.speech_started", "input_audio_buffer.speech_stopped",
                      "input_audio_buffer.committed", "response.created",
                      "response.output_audio_transcript.delta", "response.output_audio.delta",
                      "response.output_audio.done", "response.output_audio_transcript.done"):
                assert t in types, (t, types)
            assert types.index("input_audio_buffer.speech_stopped") < types.index("response.created")
            done = events[-1].response
            assert done.status == "completed" and done.usage.output_tokens > 0
            assert done.usage.input_token_details.audio_tokens > 0
            text = "".join(e.delta for e in events if e.type == "response.output_audio_transcript.delta")
            assert text.strip() and done.output[0].content[0].transcript == text
            pcm = b"".join(base64.b64decode(e.delta) for e in events if e.type == "response.output_audio.delta")
            assert len(pcm) > PCM_RATE * 2 * 0.3  # at least 0.3 s of 24 kHz PCM16

            # second turn: barge in as soon as the reply starts speaking
            for c in chunks(pcm24("How many legs does a spider have?")):
                await conn.input_audio_buffer.append(audio=c)
            events = await recv_until(conn, lambda e: e.type == "response.output_audio.delta")
            reply_item = events[-1].item_id
            t0 = time.monotonic()
            for c in chunks(pcm24("Please tell me a short story.")):
                await conn.input_audio_buffer.append(audio=c)
            events = await recv_until(conn, lambda e: e.type == "response.done")
            assert events[-1].response.status == "cancelled", [e.type for e in events]
            assert events[-1].response.status_details.reason == "turn_detected"
            assert time.monotonic() - t0 < 10
            trunc = await recv_until(conn, lambda e: e.type in ("conversation.item.truncated", "response.created"))
            assert trunc[-1].type == "conversation.item.truncated" and trunc[-1].item_id == reply_item
            # ... and the interrupting turn is answered
            events = await recv_until(conn, lambda e: e.type == "response.done")
            assert events[-1].response.status == "completed"
            assert any(e.type == "response.output_audio.delta" for e in events)

    asyncio.run(main())


def test_text_item_and_response_create_without_vad(served):
    from openai import AsyncOpenAI

    url = served[0]

    async def main():
        client = AsyncOpenAI(api_key="unused", base_url=url + "/v1")
        async with client.realtime.connect(model="ichigo") as conn:
            await conn.session.update(session={"type": "realtime", "instructions": "", "output_modalities": ["text"],
                                               "audio": {"input": {"turn_detection": None,
                                                                   "transcription": {"model": "ichigo"}}}})
            await recv_until(conn, lambda e: e.type == "session.updated")
            await conn.conversation.item.create(item={"type": "message", "role": "user",
                                                      "content": [{"type": "input_text", "text": "Hello"}]})
            await conn.response.create()
            events = await recv_until(conn, lambda e: e.type == "response.done")
            types = [e.type for e in events]
            assert "response.output_text.delta" in types and "response.output_audio.delta" not in types
            assert events[-1].response.status == "completed"
            # manual commit of spoken audio (no VAD), then a response on request
            await conn.input_audio_buffer.append(audio=base64.b64encode(pcm24("Hello there.", 0.2)).decode())
            await conn.input_audio_buffer.commit()
            ev = await recv_until(conn, lambda e: e.type in ("input_audio_buffer.committed", "error"))
            assert ev[-1].type == "input_audio_buffer.committed"
            item_id = ev[-1].item_id
            await conn.response.create(response={"output_modalities": ["text"]})
            seen: dict = {}

            def both(e) -> bool:
                seen[e.type] = e
                return "response.done" in seen and "conversation.item.input_audio_transcription.completed" in seen

            await recv_until(conn, both)
            assert seen["response.done"].response.status == "completed"
            assert seen["response.done"].response.usage.input_token_details.audio_tokens > 0
            tr = seen["conversation.item.input_audio_transcription.completed"]
            assert tr.item_id == item_id and isinstance(tr.transcript, str)

    asyncio.run(main())


def test_bad_input_gets_error_events_and_the_session_stays_up(served):
    import websockets

    url = served[0]

    async def main():
        async with websockets.connect(ws_url(url), max_size=None) as ws:
            assert json.loads(await ws.recv())["type"] == "session.created"

            async def error_for(frame) -> dict:
                await ws.send(frame)
                while True:
                    ev = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if ev["type"] == "error":
                        return ev["error"]

            assert (await error_for("{not json"))["code"] == "invalid_json"
            assert (await error_for("[1, 2]"))["code"] == "invalid_event"
            e = await error_for(json.dumps({"type": "session.fly", "event_id": "e1"}))
            assert e["code"] == "invalid_event_type" and e["event_id"] == "e1"
            e = await error_for(json.dumps({"type": "input_audio_buffer.append", "audio": "@@not base64"}))
            assert e["code"] == "invalid_value" and e["param"] == "audio"
            e = await error_for(json.dumps({"type": "input_audio_buffer.append",
                                            "audio": base64.b64encode(b"\x00" * 3).decode()}))
            assert e["code"] == "invalid_audio_format"
            from ichigo.audio import wav_bytes
            wav = base64.b64encode(wav_bytes(np.zeros(1600, np.float32))).decode()
            e = await error_for(json.dumps({"type": "input_audio_buffer.append", "audio": wav}))
            assert e["code"] == "invalid_audio_format" and "24 kHz" in e["message"]
            e = await error_for(json.dumps({"type": "session.update", "session": {
                "type": "realtime", "audio": {"input": {"format": {"type": "audio/pcmu"}}}}}))
            assert e["code"] == "invalid_audio_format"
            e = await error_for(json.dumps({"type": "session.update", "session": {"type": "realtime", "bogus": 1}}))
            assert e["code"] == "unknown_parameter" and e["param"] == "session.bogus"
            big = base64.b64encode(b"\x00\x00" * 1_100_000).decode()  # over max_event_bytes
            e = await error_for(json.dumps({"type": "input_audio_buffer.append", "audio": big}))
            assert e["code"] == "event_too_large"
            e = await error_for(json.dumps({"type": "input_audio_buffer.commit"}))
            assert e["code"] == "input_audio_buffer_commit_empty"
            e = await error_for(json.dumps({"type": "response.cancel"}))
            assert e["code"] == "response_cancel_not_active"
            e = await error_for(json.dumps({"type": "response.create"}))
            assert e["code"] == "conversation_empty"
            # no VAD: the buffer is capped at serving.max_audio_seconds (6 s in the test profile)
            await ws.send(json.dumps({"type": "session.update", "session": {
                "type": "realtime", "audio": {"input": {"turn_detection": None}}}}))
            second = base64.b64encode(b"\x00\x00" * PCM_RATE).decode()
            for _ in range(6):
                await ws.send(json.dumps({"type": "input_audio_buffer.append", "audio": second}))
            e = await error_for(json.dumps({"type": "input_audio_buffer.append", "audio": second}))
            assert e["code"] == "input_audio_buffer_too_large"
            # still up: a valid event is answered
            await ws.send(json.dumps({"type": "input_audio_buffer.clear"}))
            while (ev := json.loads(await ws.recv()))["type"] != "input_audio_buffer.cleared":
                pass

    asyncio.run(main())


def _gauge(url: str, name: str) -> float:
    import httpx

    for line in httpx.get(url + "/metrics", timeout=10).text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_client_vanishing_mid_reply_frees_the_generation_at_once(served):
    import websockets

    url = served[0]

    async def main():
        ws = await websockets.connect(ws_url(url), max_size=None)
        await ws.recv()
        await ws.send(json.dumps({"type": "session.update", "session": {
            "type": "realtime", "instructions": "", "max_output_tokens": 32,
            "audio": {"input": {"turn_detection": None}}}}))
        await ws.send(json.dumps({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "Tell me a story."}]}}))
        await ws.send(json.dumps({"type": "response.create"}))
        while json.loads(await ws.recv())["type"] != "response.output_audio_transcript.delta":
            pass
        sessions = _gauge(url, "ichigo_realtime_sessions")
        assert sessions >= 1
        ws.transport.abort()  # vanish: no close frame
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            if (_gauge(url, "ichigo_realtime_generations") == 0
                    and _gauge(url, "ichigo_realtime_sessions") == sessions - 1):
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the vanished session's generation was not freed within 3 s")

    asyncio.run(main())


def test_oldest_turns_are_dropped_whole_to_fit_the_context(served):
    import httpx
    import websockets

    url = served[0]
    ctx = httpx.get(url + "/readyz", timeout=30).json()["llm"]["max_seq_len"]
    words = "word " * (ctx // 3 // 5)  # about a third of the context each (byte-level bound)

    async def main():
        async with websockets.connect(ws_url(url), max_size=None) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "session.update", "session": {
                "type": "realtime", "instructions": "", "output_modalities": ["text"],
                "audio": {"input": {"turn_detection": None}}}}))
            ids = []
            for i in range(4):
                await ws.send(json.dumps({"type": "conversation.item.create", "item": {
                    "id": f"turn{i}", "type": "message", "role": "user",
                    "content": [{"type": "input_text", "text": f"{i} {words}"}]}}))
                ids.append(f"turn{i}")
            await ws.send(json.dumps({"type": "response.create"}))
            deleted, done = [], None
            while done is None:
                ev = json.loads(await asyncio.wait_for(ws.recv(), 60))
                if ev["type"] == "conversation.item.deleted":
                    deleted.append(ev)
                elif ev["type"] == "response.done":
                    done = ev["response"]
            assert done["status"] == "completed", done
            assert [d["item_id"] for d in deleted] == ids[:len(deleted)] and 1 <= len(deleted) <= 2
            assert all(d["reason"] == "context_limit" for d in deleted)
            assert done["usage"]["input_tokens"] <= ctx

    asyncio.run(main())


def test_sessions_over_the_cap_are_refused_with_an_error_event(served):
    import websockets

    url, profile = served
    cap = profile.serving.realtime.max_sessions

    async def main():
        open_ = [await websockets.connect(ws_url(url)) for _ in range(cap)]
        try:
            for ws in open_:
                assert json.loads(await ws.recv())["type"] == "session.created"
            async with websockets.connect(ws_url(url)) as extra:
                ev = json.loads(await asyncio.wait_for(extra.recv(), 10))
                assert ev["type"] == "error" and ev["error"]["code"] == "session_limit_reached"
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await asyncio.wait_for(extra.recv(), 10)
                assert closed.value.rcvd.code == 1013
        finally:
            for ws in open_:
                await ws.close()
        await asyncio.sleep(0.5)
        async with websockets.connect(ws_url(url)) as again:  # a freed slot is usable again
            assert json.loads(await again.recv())["type"] == "session.created"

    asyncio.run(main())


def test_beta_client_gets_the_beta_dialect(served):
    from openai import AsyncOpenAI

    url = served[0]

    async def main():
        client = AsyncOpenAI(api_key="unused", base_url=url + "/v1",
                             websocket_base_url=url.replace("http://", "ws://") + "/v1")
        async with client.beta.realtime.connect(model="ichigo") as conn:
            created = await conn.recv()
            assert created.type == "session.created" and created.session.input_audio_format == "pcm16"
            await conn.session.update(session={"instructions": "", "modalities": ["text", "audio"],
                                               "turn_detection": {"type": "server_vad", "silence_duration_ms": 400}})
            upd = await recv_until(conn, lambda e: e.type == "session.updated")
            assert upd[-1].session.turn_detection.silence_duration_ms == 400
            for c in chunks(pcm24("What is the capital of France?")):
                await conn.input_audio_buffer.append(audio=c)
            events = await recv_until(conn, lambda e: e.type == "response.done")
            types = {e.type for e in events}
            assert {"response.audio.delta", "response.audio_transcript.delta", "conversation.item.created"} <= types
            assert not any(t.startswith("response.output_audio") for t in types)
            assert events[-1].response.status == "completed"
            assert events[-1].response.output[0].content[0].type == "audio"

    asyncio.run(main())
