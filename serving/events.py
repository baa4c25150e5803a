"""Wire formats of a turn's response, written from the engine's typed events (turn_events.py).

Ours (`/v1/speech`, `/v1/chat`): NDJSON (one JSON object per line) or SSE (`data: ...`). Event
order: `start`, `text` deltas with each sentence's `audio` chunk interleaved as soon as it is
synthesized (always after the text it speaks), then `done` (or, if the stream broke,
`{"type": "error", "error": {message, type, code}}`).

OpenAI's (`/v1/chat/completions`): chat.completion.chunk events, or one chat.completion body.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import TYPE_CHECKING, AsyncIterator

from serving.openai_api import WAV_RATE, pcm16_wav
from serving.turn_events import Finished, Speech, TextDelta

if TYPE_CHECKING:
    from serving.metrics import RouteCall
    from serving.turn_engine import Synthesize, Turn

NDJSON = "application/x-ndjson"
SSE = "text/event-stream"


def encode(event: dict, media_type: str) -> bytes:
    data = json.dumps(event, ensure_ascii=False, separators=(",", ":"))
    if media_type == SSE:
        return f"event: {event['type']}\ndata: {data}\n\n".encode()
    return (data + "\n").encode()


def pick_media_type(accept: str | None, fmt: str | None) -> str:
    if fmt in ("sse", "ndjson"):
        return SSE if fmt == "sse" else NDJSON
    return SSE if accept and SSE in accept else NDJSON


def audio_event(index: int, text: str, wav: bytes) -> dict:
    return {"type": "audio", "index": index, "text": text, "format": "wav", "sample_rate": 16000,
            "data": base64.b64encode(wav).decode()}


class OpenAIChunks:
    """chat.completion.chunk objects for `stream: true`, and the final chat.completion object."""

    def __init__(self, model: str):
        self.id = "chatcmpl-" + uuid.uuid4().hex[:24]
        self.audio_id = "audio_" + uuid.uuid4().hex[:24]
        self.created = int(time.time())
        self.model = model

    def chunk(self, delta: dict, finish_reason: str | None = None, usage: dict | None = None) -> bytes:
        obj = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
               "model": self.model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}
        if usage is not None:
            obj["usage"] = usage
        return f"data: {json.dumps(obj, ensure_ascii=False)}\n\n".encode()

    @staticmethod
    def done() -> bytes:
        return b"data: [DONE]\n\n"

    def audio(self, data_b64: str, transcript: str) -> dict:
        """`message.audio` of OpenAI's audio output. The server keeps no copy of the audio, so it
        expires at once (`expires_at` = created): send the transcript back as the assistant's
        content in a follow-up turn."""
        return {"id": self.audio_id, "data": data_b64, "transcript": transcript,
                "expires_at": self.created}

    def completion(self, text: str, finish_reason: str, usage: dict, audio: dict | None = None) -> dict:
        # with audio output the text is the audio's transcript and `content` is null (as OpenAI)
        message = ({"role": "assistant", "content": None, "audio": audio} if audio is not None
                   else {"role": "assistant", "content": text})
        return {"id": self.id, "object": "chat.completion", "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
                "usage": usage}


# -- the bodies --------------------------------------------------------------------------------
async def turn_stream(turn: Turn, tts: Synthesize | None, media_type: str, model: str, extra: dict,
                      call: RouteCall, marks: dict[str, float]) -> AsyncIterator[bytes]:
    """Our streamed turn. `done` carries `timings_ms`: when each step finished, from the
    request's arrival (`marks` so far: body read, audio encoded, LLM stream open; then first/last
    text and audio), to see where a turn's time goes."""
    marks, t0, version = dict(marks), call.t0, turn.started.version
    with call.in_flight():
        reply = turn.reply(tts)
        try:
            yield encode({"type": "start", "model": model, "version": version,
                          "prompt_tokens": turn.started.prompt_tokens, **extra}, media_type)
            text, chunks, finish = [], 0, Finished()
            async for ev in reply:
                now = time.perf_counter()
                if isinstance(ev, TextDelta):
                    marks.setdefault("first_text", now)
                    marks["last_text"] = now
                    text.append(ev.text)
                    yield encode({"type": "text", "delta": ev.text}, media_type)
                elif isinstance(ev, Speech):
                    marks.setdefault("first_audio", now)
                    marks["last_audio"] = now
                    chunks += 1
                    yield encode(audio_event(ev.index, ev.sentence, ev.audio), media_type)
                else:
                    finish = ev
            ttft = finish.ttft
            yield encode({"type": "done", "text": "".join(text), "version": version,
                          "finish_reason": finish.finish_reason,
                          "completion_tokens": finish.completion_tokens,
                          "audio_chunks": chunks,
                          "ttft_ms": round(1000 * ttft, 1) if ttft else None,
                          "latency_ms": round(1000 * (time.perf_counter() - t0), 1),
                          "timings_ms": {k: round(1000 * (v - t0), 1) for k, v in marks.items()}},
                         media_type)
            call.ok()
        except Exception as e:
            # the error object nested, as in every error body: its own `type` (e.g. server_error)
            # must not replace the event's
            yield encode({"type": "error", "error": call.broke(e).body()["error"]}, media_type)
        finally:
            await turn.aclose()


def _usage(prompt_tokens: int, finish: Finished) -> dict:
    n = finish.completion_tokens or 0
    return {"prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n}


async def openai_stream(chunks: OpenAIChunks, turn: Turn, tts: Synthesize | None,
                        call: RouteCall) -> AsyncIterator[bytes]:
    """chat.completion.chunk events: text as `content` deltas, or with audio output (`tts`, as
    in OpenAI's API) text as `audio.transcript` deltas and each sentence's speech as an
    `audio.data` delta (base64 pcm16) as soon as it is synthesized."""
    prompt_tokens = turn.started.prompt_tokens or 0
    reply = turn.reply(tts)
    try:
        yield chunks.chunk({"role": "assistant", "content": None if tts else ""})
        async for ev in reply:
            if isinstance(ev, TextDelta):
                yield chunks.chunk({"audio": {"id": chunks.audio_id, "transcript": ev.text}}
                                   if tts else {"content": ev.text})
            elif isinstance(ev, Speech):
                yield chunks.chunk({"audio": {"id": chunks.audio_id,
                                              "data": base64.b64encode(ev.audio).decode()}})
            else:
                delta = {"audio": {"id": chunks.audio_id, "expires_at": chunks.created}} if tts else {}
                yield chunks.chunk(delta, ev.finish_reason or "stop", _usage(prompt_tokens, ev))
        yield chunks.done()
        call.ok()
    except Exception as e:
        yield f"data: {json.dumps(call.broke(e).body())}\n\n".encode()
    finally:
        await turn.aclose()


async def openai_completion(chunks: OpenAIChunks, turn: Turn, tts: Synthesize | None,
                            audio_format: str) -> dict:
    """The whole chat.completion body; with `tts` the sentences' raw PCM joined as `message.audio`
    (in a WAV file for `audio_format` wav)."""
    text: list[str] = []
    pcm: list[bytes] = []
    finish = Finished()
    try:
        async for ev in turn.reply(tts):
            if isinstance(ev, TextDelta):
                text.append(ev.text)
            elif isinstance(ev, Speech):
                pcm.append(ev.audio)
            else:
                finish = ev
    finally:
        await turn.aclose()
    audio = None
    if tts is not None:
        data = b"".join(pcm)
        if audio_format == "wav":
            data = pcm16_wav(data, WAV_RATE)
        audio = chunks.audio(base64.b64encode(data).decode(), "".join(text))
    return chunks.completion("".join(text), finish.finish_reason or "stop",
                             _usage(turn.started.prompt_tokens or 0, finish), audio)
