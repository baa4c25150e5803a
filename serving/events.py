"""Wire formats of a streamed turn: NDJSON (one JSON object per line) or SSE (`data: ...`).

Event order: `start`, `text` deltas with each sentence's `audio` chunk interleaved as soon as it is
synthesized (always after the text it speaks), then `done` (or `error` if a stream broke).
"""

from __future__ import annotations

import base64
import json
import time
import uuid

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
