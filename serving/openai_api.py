"""The subset of OpenAI's chat-completions request that an Ichigo model can honour.

Unknown top-level fields are ignored (clients send many), but the fields we read are validated
strictly, and audio arrives as `input_audio` content parts (base64 data + format), as in OpenAI's
audio-input API, so existing clients work unchanged.

Audio out, as in OpenAI's API: `modalities: ["text", "audio"]` and optional `audio: {voice,
format}`; format `wav` (16 kHz, the default without streaming) or `pcm16` (raw 16-bit
little-endian mono at 24 kHz, OpenAI's pcm16 rate; the only format with `stream: true`, as there).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import wave
from typing import Any, Awaitable, Callable, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ichigo.assistant import check_text
from ichigo.chat_template import Message, Sound
from serving.errors import ApiError

AUDIO_FORMATS = ("wav", "mp3", "flac", "ogg", "opus", "webm", "mp4", "m4a", "aac")
OUTPUT_FORMATS = ("wav", "pcm16")
MODALITIES = ("text", "audio")
PCM16_RATE = 24000  # OpenAI's pcm16 output is 24 kHz
WAV_RATE = 16000  # the TTS's own rate: no resampling for wav
# OpenAI's voice names: clients must send one, so each means this server's serving voice
OPENAI_VOICES = ("alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage",
                 "shimmer", "verse", "marin", "cedar")


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
    content: Union[str, list[Part], None] = None
    audio: Any = None  # an earlier reply's audio by id: refused with a clear message below


class AudioOutput(_Strict):
    voice: str | None = None
    format: str | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0, le=2)
    n: int = Field(1, ge=1, le=1)
    modalities: list[str] | None = None
    audio: AudioOutput | None = None

    @property
    def wants_audio(self) -> bool:
        return bool(self.modalities) and "audio" in self.modalities  # type: ignore[operator]

    @property
    def audio_format(self) -> str:
        fmt = self.audio.format if self.audio is not None else None
        return fmt or ("pcm16" if self.stream else "wav")


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
    for i, m in enumerate(req.messages):
        if m.audio is not None:
            raise ApiError(400, f"messages.{i}.audio: this server does not keep generated audio, so "
                           "a reply cannot be referenced by audio id; send the reply's transcript as "
                           "the assistant message's content", param=f"messages.{i}.audio")
        if m.content is None:
            raise ApiError(400, f"invalid request: messages.{i}.content: Field required",
                           param=f"messages.{i}.content")
    _check_audio_output(req)
    if req.messages[-1].role != "user":
        raise ApiError(400, "the last message must have role 'user'", param="messages")
    for i, m in enumerate(req.messages):
        if m.role != "user" and isinstance(m.content, list) and any(
                isinstance(p, AudioPart) for p in m.content):
            raise ApiError(400, f"messages.{i}: only user messages may contain input_audio",
                           param=f"messages.{i}.content")
    return req


async def to_messages(req: ChatRequest, max_chars: int, max_upload_bytes: int,
                      hear: Callable[[bytes], Awaitable[Sound | str]]) -> list[Message]:
    """The request's messages as chat messages; every `input_audio` part is checked first, then
    all are heard (`hear`: audio -> the user's part) at once."""
    out: list[list[Any]] = []
    jobs: list[tuple[int, int]] = []
    for i, m in enumerate(req.messages):
        if isinstance(m.content, str):
            out.append([check_text(m.content, max_chars)])
            continue
        parts: list[Any] = []
        for j, p in enumerate(m.content or ()):
            if isinstance(p, AudioPart):
                data = audio_bytes(p, f"messages.{i}.content.{j}", max_upload_bytes)
                jobs.append((len(out), len(parts)))
                parts.append(data)  # heard only once every part is valid: no call left unawaited
            else:
                parts.append(check_text(p.text, max_chars))
        out.append(parts)
    heard = await asyncio.gather(*(hear(out[i][j]) for i, j in jobs))
    for (i, j), part in zip(jobs, heard):
        out[i][j] = part
    msgs = []
    for m, parts in zip(req.messages, out):
        if not parts:
            raise ApiError(400, "a message has no content parts", param="messages")
        msgs.append(Message(m.role, parts))
    return msgs


def audio_out(req: ChatRequest, default_voice: str, voices: list[str]) -> tuple[str, int] | None:
    """(voice, sample rate) of the raw 16-bit PCM each sentence is spoken in, or None for text only."""
    if not req.wants_audio:
        return None
    voice = pick_voice(req.audio.voice if req.audio else None, default_voice, voices)
    return voice, PCM16_RATE if req.audio_format == "pcm16" else WAV_RATE


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


def _check_audio_output(req: ChatRequest) -> None:
    if req.modalities is not None:
        bad = [m for m in req.modalities if m not in MODALITIES]
        if bad or not req.modalities:
            raise ApiError(400, f"modalities: {bad[0]!r} is not supported; use a list of "
                           f"{' / '.join(map(repr, MODALITIES))}" if bad else
                           "modalities: the list is empty; use [\"text\"] or [\"text\", \"audio\"]",
                           param="modalities")
    if req.audio is not None and not req.wants_audio:
        raise ApiError(400, "audio: output audio settings need \"audio\" in modalities, e.g. "
                       "\"modalities\": [\"text\", \"audio\"]", param="audio")
    if not req.wants_audio:
        return
    fmt = req.audio_format
    if fmt not in OUTPUT_FORMATS:
        raise ApiError(400, f"audio.format {fmt!r} is not supported; use one of "
                       f"{', '.join(OUTPUT_FORMATS)}", param="audio.format")
    if req.stream and fmt != "pcm16":
        raise ApiError(400, "audio.format must be 'pcm16' with stream: true (streamed pieces of "
                       "one WAV file would not play; as in OpenAI's API)", param="audio.format")


def pick_voice(requested: str | None, default: str, voices: list[str]) -> str:
    """The TTS voice for an `audio.voice`: None or an OpenAI voice name -> `default`; else one
    of this server's `voices`."""
    if requested is None or requested.lower() in OPENAI_VOICES:
        return default
    if requested in voices:
        return requested
    raise ApiError(400, f"audio.voice {requested!r} is not available; use one of "
                   f"{', '.join(voices)} or an OpenAI voice name (which means {default!r})",
                   param="audio.voice")


def pcm16_wav(pcm: bytes, rate: int) -> bytes:
    """Raw 16-bit mono PCM -> a WAV file."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return buf.getvalue()
