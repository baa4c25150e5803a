"""The model calls a realtime session makes, over the ingress's deployment handles: speech ->
sound codes, messages -> streamed text (cancellable), sentence -> PCM16 at 24 kHz."""

from __future__ import annotations

from typing import Any, AsyncIterator, Awaitable, Callable, Protocol

from ichigo.chat_template import Message, messages_to_json


class Backend(Protocol):
    model_name: str
    voices: list[str]  # the serving voices; voices[0] is the default

    async def encode(self, wav16k: bytes) -> list[int]: ...

    def generate(self, messages: list[Message], max_new: int | None) -> AsyncIterator[dict]: ...

    async def synthesize(self, text: str, voice: str) -> bytes: ...

    async def context_tokens(self) -> int: ...


class HandleBackend:
    def __init__(self, model_name: str, voices: list[str], encode: Callable[[bytes], Awaitable[list[int]]],
                 llm_stream: Any, tts: Callable[..., Awaitable[bytes]], llm_info: Callable[[], Awaitable[dict]]):
        self.model_name, self.voices = model_name, voices
        self._encode, self._llm, self._tts, self._info = encode, llm_stream, tts, llm_info
        self._max_seq_len: int | None = None

    async def encode(self, wav16k: bytes) -> list[int]:
        return await self._encode(wav16k)

    async def generate(self, messages: list[Message], max_new: int | None) -> AsyncIterator[dict]:
        """LLM events (start, text..., end). Closing this generator cancels the remote call, so
        the LLM replica stops generating at once (barge-in, a vanished client)."""
        gen = self._llm.generate.remote(messages_to_json(messages), max_new, None)
        try:
            async for ev in gen:
                if ev["type"] == "end" and ev.get("delta"):  # the last piece rides on `end`
                    yield {"type": "text", "delta": ev["delta"]}
                yield ev
        finally:
            gen.cancel()

    async def synthesize(self, text: str, voice: str) -> bytes:
        from serving.realtime.protocol import PCM_RATE

        return await self._tts(text, voice if voice in self.voices else self.voices[0], PCM_RATE, "raw")

    async def context_tokens(self) -> int:
        if self._max_seq_len is None:
            self._max_seq_len = int((await self._info())["max_seq_len"])
        return self._max_seq_len


__all__ = ["Backend", "HandleBackend"]
