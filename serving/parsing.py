"""Request bodies in, within limits: bytes read up to a bound, media types, JSON, multipart
forms, chat histories, and the parsed bodies of `/v1/speech` and `/v1/chat`. Every refusal is an
ApiError naming what to fix (serving/errors.py); nothing here calls a model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from ichigo.assistant import check_text, conversation
from ichigo.chat_template import Message, messages_from_json
from serving.errors import ApiError

# what browsers' MediaRecorder and common tools send; everything is decoded by ichigo.audio
AUDIO_TYPES = {"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "audio/webm", "video/webm",
               "audio/ogg", "audio/opus", "audio/mp4", "audio/m4a", "audio/x-m4a", "video/mp4",
               "audio/mpeg", "audio/mp3", "audio/flac", "audio/x-flac", "audio/aac",
               "application/octet-stream"}
MULTIPART_SLACK = 64 * 1024  # form boundaries and a history field on top of the audio


def json_audio_limit(max_upload_bytes: int) -> int:
    """The body limit where audio travels base64-encoded inside JSON (OpenAI's input_audio)."""
    return max_upload_bytes * 4 // 3 + MULTIPART_SLACK


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing more than `limit` bytes (by header at once, else while reading)."""
    cl = request.headers.get("content-length")
    if cl is not None:
        try:
            n = int(cl)
        except ValueError:
            raise ApiError(400, "bad Content-Length header") from None
        if n > limit:
            raise ApiError(413, f"the upload is {n} bytes; the limit is {limit} bytes "
                           "(serving.max_upload_bytes)", "payload_too_large")
    buf = bytearray()
    async for piece in request.stream():
        buf += piece
        if len(buf) > limit:
            raise ApiError(413, f"the upload is over the limit of {limit} bytes "
                           "(serving.max_upload_bytes)", "payload_too_large")
    return bytes(buf)


def media_type(request: Request) -> str:
    """The Content-Type without parameters, lower-case ('' when absent)."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def parse_json(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ApiError(400, f"the body is not valid UTF-8 (byte {e.start}); send UTF-8 JSON") from None
    if not text.strip():
        raise ApiError(400, "the body is empty; send a JSON object")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ApiError(400, f"malformed JSON at line {e.lineno} column {e.colno}: {e.msg}") from None


def require_json(request: Request, body: bytes) -> Any:
    ctype = media_type(request)
    if ctype != "application/json":
        raise ApiError(415, f"Content-Type {ctype or '(none)'!r}: send application/json",
                       "unsupported_media_type")
    return parse_json(body)


def parse_history(raw: Any, max_chars: int) -> list[Message]:
    """Chat messages from JSON (a list, or a string holding one); empty for None or ''."""
    if raw in (None, ""):
        return []
    if isinstance(raw, str):
        raw = parse_json(raw.encode())
    if not isinstance(raw, list):
        raise ApiError(400, "history must be a JSON list of {role, content} messages", param="history")
    try:
        msgs = messages_from_json(raw)
    except ValueError as e:
        raise ApiError(400, f"history: {e}", param="history") from None
    for m in msgs:
        check_text(m.text or " x", max_chars)
    return msgs


async def read_form(request: Request, body: bytes, max_chars: int) -> tuple[bytes, list[Message]]:
    """A multipart body already read within its limit -> (the `audio` file, `history`)."""
    request._body = body  # starlette parses the form from the body we already bounded
    try:
        form = await request.form()
    except Exception as e:  # noqa: BLE001 - a broken multipart body is the client's
        raise ApiError(400, f"malformed multipart body ({type(e).__name__})") from None
    up = form.get("audio")
    if up is None or isinstance(up, str):
        raise ApiError(400, "multipart body needs a file field named 'audio'", param="audio")
    return await up.read(), parse_history(form.get("history"), max_chars)


async def speech_upload(request: Request, max_upload_bytes: int, max_chars: int) -> tuple[bytes, list[Message]]:
    """`/v1/speech`'s body: raw audio (audio/*), or multipart with an `audio` file and optional
    `history` -> (audio bytes, history)."""
    ctype = media_type(request)
    multipart = ctype == "multipart/form-data"
    if ctype not in AUDIO_TYPES and not multipart:
        raise ApiError(415, f"Content-Type {ctype or '(none)'!r} is not audio: send WAV, "
                       "WebM/Opus, OGG, MP4 or FLAC bytes (audio/*) or multipart/form-data "
                       "with an 'audio' file", "unsupported_media_type")
    body = await read_body(request, max_upload_bytes + (MULTIPART_SLACK if multipart else 0))
    audio, history = await read_form(request, body, max_chars) if multipart else (body, [])
    if not audio:
        raise ApiError(400, "the audio is empty (0 bytes)", "invalid_audio_empty")
    return audio, history


@dataclass(frozen=True)
class ChatBody:
    """`/v1/chat`'s JSON body; `messages` with the system prompt added."""
    messages: list[Message]
    speak: bool
    max_tokens: int | None
    format: Any  # ndjson | sse; anything else falls back to the Accept header


def chat_body(body: Any, max_chars: int, system_prompt: str | None) -> ChatBody:
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
        raise ApiError(400, "body must be {\"messages\": [{\"role\": ..., \"content\": ...}, ...]}",
                       param="messages")
    msgs = parse_history(body["messages"], max_chars)
    msgs = conversation(msgs[:-1], msgs[-1], system_prompt)
    speak, max_new = body.get("speak", False), body.get("max_tokens")
    if not isinstance(speak, bool) or not (max_new is None or (isinstance(max_new, int) and max_new > 0)):
        raise ApiError(400, "speak must be a boolean and max_tokens a positive integer")
    return ChatBody(msgs, speak, max_new, body.get("format"))
