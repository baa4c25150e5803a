"""The OpenAI Realtime event protocol (GA shape, as the official `openai` client's
`client.realtime.connect()` speaks it): parsing and validating client events, building server events.

Client events handled: session.update, input_audio_buffer.append/commit/clear,
conversation.item.create/delete/truncate/retrieve, response.create, response.cancel.
A bad event never closes the session: it becomes an `error` event with a `code` (OpenAI's codes
where one exists) naming the event and the field.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass
from typing import Any

CLIENT_EVENTS = frozenset({
    "session.update", "input_audio_buffer.append", "input_audio_buffer.commit",
    "input_audio_buffer.clear", "conversation.item.create", "conversation.item.delete",
    "conversation.item.truncate", "conversation.item.retrieve", "response.create", "response.cancel",
    "output_audio_buffer.clear",
})
PCM_RATE = 24000  # OpenAI's PCM16 rate, in and out


@dataclass
class ProtocolError(Exception):
    """One bad client event -> one `error` event; the session stays up."""
    code: str
    message: str
    param: str | None = None
    event_id: str | None = None
    type: str = "invalid_request_error"

    def event(self) -> dict:
        return server_event("error", error={"type": self.type, "code": self.code, "message": self.message,
                                            "param": self.param, "event_id": self.event_id})


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def server_event(type_: str, **fields: Any) -> dict:
    return {"type": type_, "event_id": new_id("event"), **fields}


def parse_event(raw: str | bytes, max_bytes: int) -> dict:
    """A client frame -> its event dict (type checked against the known client events)."""
    if len(raw) > max_bytes:
        raise ProtocolError("event_too_large", f"the event is {len(raw)} bytes; the limit is {max_bytes} "
                            "(serving.realtime.max_event_bytes): send audio in smaller appends")
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise ProtocolError("invalid_json", f"the frame is not UTF-8 (byte {e.start}); send JSON text "
                                "frames") from None
    try:
        ev = json.loads(raw)
    except json.JSONDecodeError as e:
        raise ProtocolError("invalid_json", f"malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise ProtocolError("invalid_json", "the JSON is nested too deeply") from None
    if not isinstance(ev, dict):
        raise ProtocolError("invalid_event", f"an event must be a JSON object, got {type(ev).__name__}")
    eid = ev.get("event_id")
    eid = eid if isinstance(eid, str) else None
    t = ev.get("type")
    if not isinstance(t, str):
        raise ProtocolError("missing_required_parameter", "the event has no string 'type'", "type", eid)
    if t not in CLIENT_EVENTS:
        raise ProtocolError("invalid_event_type", f"unknown event type {t[:80]!r}; expected one of "
                            f"{', '.join(sorted(CLIENT_EVENTS))}", "type", eid)
    return ev


def decode_pcm16(audio: Any, event_id: str | None, param: str = "audio") -> bytes:
    """base64 PCM16 (little-endian mono) -> bytes, with the error a client can act on."""
    if not isinstance(audio, str):
        raise ProtocolError("invalid_value", f"'{param}' must be a base64 string of PCM16 audio", param, event_id)
    try:
        data = base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        raise ProtocolError("invalid_value", f"'{param}' is not valid base64", param, event_id) from None
    if len(data) % 2:
        raise ProtocolError("invalid_audio_format", f"'{param}' has {len(data)} bytes: PCM16 needs an even "
                            "number (2 bytes per sample, 24 kHz mono little-endian)", param, event_id)
    if data[:4] in (b"RIFF", b"OggS", b"fLaC", b"\x1aE\xdf\xa3") or data[4:8] == b"ftyp":
        raise ProtocolError("invalid_audio_format", f"'{param}' holds a container file (WAV/OGG/FLAC/WebM/"
                            "MP4); send raw PCM16 samples at 24 kHz mono (audio/pcm)", param, event_id)
    return data


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def require(ev: dict, key: str, kind: type | tuple[type, ...]) -> Any:
    v = ev.get(key)
    if not isinstance(v, kind) or isinstance(v, bool) and kind is int:
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        code = "missing_required_parameter" if v is None else "invalid_value"
        raise ProtocolError(code, f"{ev['type']}: '{key}' must be a {names}", key, ev.get("event_id"))
    return v


__all__ = ["CLIENT_EVENTS", "PCM_RATE", "ProtocolError", "b64", "decode_pcm16", "new_id", "parse_event",
           "require", "server_event"]
