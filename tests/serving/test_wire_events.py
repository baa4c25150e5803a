"""The response bodies (serving/events.py) written from a turn over fake handles, without Ray:
our NDJSON stream (also when it breaks mid-way) and OpenAI's chunks and completion body."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import wave
from functools import partial

from ichigo.chat_template import Message
from serving.events import NDJSON, OpenAIChunks, openai_completion, openai_stream, turn_stream
from serving.metrics import Metrics, RouteCall
from serving.turn_engine import TurnEngine
from tests.serving.fake_handles import Died, FakeLLM, FakeTTS, end, start, text


async def body(make_stream, llm: FakeLLM, tts: FakeTTS | None = None) -> tuple[bytes, RouteCall]:
    metrics = Metrics()
    eng = TurnEngine(None, llm, tts, metrics, death=(Died,))
    call = RouteCall(metrics, "r")
    turn = await eng.open([Message("user", "hi")], route=call.route, t0=call.t0)
    return b"".join([piece async for piece in make_stream(eng, turn, call)]), call


def count(call: RouteCall, status: str) -> float | None:
    return call.metrics.registry.get_sample_value("ichigo_requests_total", {"route": "r", "status": status})


def test_ndjson_turn_start_text_audio_done():
    llm = FakeLLM([start(), text("Hi there. "), end("Bye.")])
    out, call = asyncio.run(body(lambda eng, turn, call: turn_stream(
        turn, eng.synthesize, NDJSON, "ichigo-test", {"user_codes": [1, 2]}, call, {"body": call.t0}),
        llm, FakeTTS()))
    evs = [json.loads(line) for line in out.decode().splitlines()]
    assert evs[0] == {"type": "start", "model": "ichigo-test", "version": "3", "prompt_tokens": 7,
                      "user_codes": [1, 2]}
    assert [e["delta"] for e in evs if e["type"] == "text"] == ["Hi there. ", "Bye."]
    audio = [e for e in evs if e["type"] == "audio"]
    assert [(a["index"], a["text"], base64.b64decode(a["data"])) for a in audio] == [
        (0, "Hi there.", b"wav:Hi there."), (1, "Bye.", b"wav:Bye.")]
    done = evs[-1]
    assert done["type"] == "done" and done["text"] == "Hi there. Bye." and done["audio_chunks"] == 2
    assert done["finish_reason"] == "stop" and done["completion_tokens"] == 5 and done["ttft_ms"] is not None
    assert {"body", "first_text", "last_text", "first_audio", "last_audio"} <= set(done["timings_ms"])
    assert count(call, "200") == 1 and call.metrics.in_flight._value.get() == 0


def test_ndjson_stream_that_breaks_ends_with_an_error_event():
    llm = FakeLLM([start(), text("Hi "), RuntimeError("engine crashed")])
    out, call = asyncio.run(body(lambda eng, turn, call: turn_stream(
        turn, None, NDJSON, "m", {}, call, {}), llm))
    evs = [json.loads(line) for line in out.decode().splitlines()]
    # the last event is an `error` event carrying the error body in-band, never `done`
    assert [e["type"] for e in evs] == ["start", "text", "error"]
    assert evs[-1]["error"]["code"] == 500 and evs[-1]["error"]["message"] == "stream failed (RuntimeError)"
    assert count(call, "stream_error") == 1 and count(call, "200") is None
    assert call.metrics.in_flight._value.get() == 0


def test_openai_stream_with_audio_transcript_and_pcm_chunks():
    llm = FakeLLM([start(), text("One. "), end("Two.", completion_tokens=4)])
    chunks = OpenAIChunks("m")
    out, call = asyncio.run(body(lambda eng, turn, call: openai_stream(
        chunks, turn, partial(eng.synthesize, voice="v", sample_rate=24000, container="raw"), call),
        llm, FakeTTS()))
    lines = [ln[len("data: "):] for ln in out.decode().split("\n\n") if ln]
    assert lines[-1] == "[DONE]"
    objs = [json.loads(ln) for ln in lines[:-1]]
    deltas = [o["choices"][0]["delta"] for o in objs]
    assert deltas[0] == {"role": "assistant", "content": None}
    assert "".join(d["audio"].get("transcript", "") for d in deltas[1:]) == "One. Two."
    assert [base64.b64decode(d["audio"]["data"]) for d in deltas[1:] if "data" in d.get("audio", {})] == [
        b"raw:One.", b"raw:Two."]
    assert objs[-1]["choices"][0]["finish_reason"] == "stop"
    assert objs[-1]["usage"] == {"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11}
    assert count(call, "200") == 1


def test_openai_completion_wav_audio_is_the_sentences_joined():
    llm = FakeLLM([start(), end("Hello.", finish_reason="length")])
    tts = FakeTTS()

    async def go():
        eng = TurnEngine(None, llm, tts, Metrics(), death=(Died,))
        turn = await eng.open([Message("user", "hi")], route="r", t0=0.0)
        return await openai_completion(OpenAIChunks("m"), turn, partial(
            eng.synthesize, voice="v", sample_rate=16000, container="raw"), "wav")

    done = asyncio.run(go())
    msg = done["choices"][0]["message"]
    assert msg["content"] is None and msg["audio"]["transcript"] == "Hello."
    assert done["choices"][0]["finish_reason"] == "length"
    with wave.open(io.BytesIO(base64.b64decode(msg["audio"]["data"]))) as w:
        assert w.getframerate() == 16000 and w.readframes(w.getnframes()) == b"raw:Hello."
