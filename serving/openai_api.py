"""The subset of OpenAI's chat-completions request that an Ichigo model can honour.

Unknown top-level fields are ignored (clients send many), but the fields we read are validated
strictly, and audio arrives as `input_audio` content parts (base64 data + format), as in OpenAI's
audio-input API, so existing clients work unchanged.
"""

from __future__ import annotations

import base64
import binascii
from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from serving.errors import ApiError

AUDIO_FORMATS = ("wav", "mp3", "flac", "ogg", "opus", "webm", "mp4", "m4a", "aac")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextPart(_Strict):
    type: Literal["text"]
    text: str


class InputAudio(_Strict):
    data: str = Field(min_length=1)
    format: str


class AudioPart(_Strict):
    type: Literal["input_audio"]
    input_audio: InputAudio


Part = Union[TextPart, AudioPart]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")  # name, tool_call_id, ... are harmless here
    role: Literal["system", "user", "assistant"]
    content: Union[str, list[Part]]


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    n: int = Field(1, ge=1, le=1)


def parse_request(body: object) -> ChatRequest:
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object")
    try:
        req = ChatRequest.model_validate(body)
    except ValidationError as e:
        first = e.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ApiError(400, f"invalid request: {loc}: {first['msg']} ({e.error_count()} error(s))",
                       param=loc) from None
    if req.messages[-1].role != "user":
        raise ApiError(400, "the last message must have role 'user'", param="messages")
    for i, m in enumerate(req.messages):
        if m.role != "user" and isinstance(m.content, list) and any(
                isinstance(p, AudioPart) for p in m.content):
            raise ApiError(400, f"messages.{i}: only user messages may contain input_audio",
                           param=f"messages.{i}.content")
    return req


def audio_bytes(part: AudioPart, where: str, max_bytes: int) -> bytes:
    fmt = part.input_audio.format.lower()
    if fmt not in AUDIO_FORMATS:
        raise ApiError(400, f"{where}: input_audio.format {fmt!r} is not supported; use one of "
                       f"{', '.join(AUDIO_FORMATS)}", param=where)
    data = part.input_audio.data
    if len(data) > max_bytes * 4 // 3 + 4:  # reject before decoding a huge string
        raise ApiError(413, f"{where}: audio is over the {max_bytes}-byte upload limit",
                       "payload_too_large", where)
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, f"{where}: input_audio.data is not valid base64", param=where) from None
