"""The turn engine: audio -> the user's part (sound codes, or a transcript with the cascade
front-end) -> the LLM stream -> sentence-pipelined TTS, over the three model deployments' handles.

A handle is anything whose methods have `.remote(*args)` returning an awaitable (unary calls)
or an async iterator (the LLM's streaming handle): Ray Serve DeploymentHandles when served,
plain objects in tests. Faults handled here:

- a replica that dies under a unary call (encode, synthesize): the call is retried;
- an LLM replica that dies mid-stream: the request is replayed on another replica and the
  prefix already sent is skipped (greedy decoding replays identically);
- an LLM replica of another package version than the one that made the codes
  (serving/versions.py): another replica is tried, then 503 `model_updating`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import deque
from typing import Any, AsyncGenerator, AsyncIterator, Awaitable, Callable

from ichigo.assistant import SentenceChunker
from ichigo.chat_template import Message, Sound, messages_to_json
from ichigo.frontends import Cascade
from serving.errors import ApiError
from serving.metrics import Metrics
from serving.turn_events import Finished, LLMEvent, ReplyEvent, Speech, Started, TextDelta, from_llm
from serving.versions import CodesVersionMismatch, codes_versions, note_codes_version

log = logging.getLogger("ichigo.serving")

MAX_VERSION_RETRIES = 8  # LLM replicas tried for a request whose codes came from another version
ATTEMPTS = 3  # tries of one call (unary or stream) when replicas die under it

Synthesize = Callable[[str], Awaitable[bytes]]  # one sentence -> its audio


def ray_death_errors() -> tuple[type[BaseException], ...]:
    """Ray's exceptions for "the replica died under this call" (names differ across versions)."""
    from ray import exceptions as rex

    return tuple(c for c in (getattr(rex, "RayActorError", None), getattr(rex, "ActorUnavailableError", None))
                 if c is not None)


class TurnEngine:
    """The model calls of a turn over the speech, LLM and TTS handles (shared by all routes and
    the realtime sessions of one ingress replica)."""

    def __init__(self, speech: Any, llm_stream: Any, tts: Any, metrics: Metrics, *,
                 speakable_tts: bool = False, death: tuple[type[BaseException], ...] | None = None):
        """`llm_stream`: the LLM handle with streaming on; `death`: the exceptions that mean a
        replica died (Ray's by default)."""
        self.speech, self.llm_stream, self.tts = speech, llm_stream, tts
        self.metrics, self.speakable_tts = metrics, speakable_tts
        self.death = ray_death_errors() if death is None else death

    async def _retry(self, call: Any, *args: Any) -> Any:
        """A unary handle call, tried again if its replica died under it (idempotent calls)."""
        for attempt in range(ATTEMPTS):
            try:
                return await call.remote(*args)
            except self.death:
                if attempt == ATTEMPTS - 1:
                    raise
                self.metrics.failovers.inc()

    # -- input ---------------------------------------------------------------------------------
    async def user_part(self, audio: bytes) -> Sound | str:
        """The user's speech as the LLM reads it: sound codes (early fusion) or, with
        serving.front_end cascade, the Whisper transcript as text."""
        out = await self._retry(self.speech.encode, audio)
        if "codes" not in out:
            return Cascade.turn(out["text"]).parts[0]
        note_codes_version(out.get("version"))  # the LLM must run the same package version
        return Sound(out["codes"])

    async def sound_codes(self, audio: bytes) -> list[int]:
        """Sound codes only (realtime sessions), a 400 under the cascade front-end."""
        part = await self.user_part(audio)
        if not isinstance(part, Sound):
            raise ApiError(400, "this server runs the cascade front-end (serving.front_end: cascade): "
                           "realtime sessions need sound tokens; use /v1/speech or /v1/chat/completions",
                           "front_end_unsupported")
        return list(part.codes)

    # -- output --------------------------------------------------------------------------------
    async def synthesize(self, text: str, voice: str | None = None, sample_rate: int | None = None,
                         container: str = "wav") -> bytes:
        if self.speakable_tts:  # "3.5 km" is said as words; the text the client sees is unchanged
            from ichigo.speakable import speakable

            text = speakable(text) or text
        return await self._retry(self.tts.synthesize, text, voice, sample_rate, container)

    async def llm_events(self, messages: list[dict], max_new: int | None,
                         temperature: float | None) -> AsyncIterator[LLMEvent]:
        """The LLM's typed events, surviving replica deaths and version mismatches (above)."""
        sent, started = "", False
        versions = sorted(codes_versions()) or None
        attempt, mismatches = 0, 0
        while True:
            produced = ""
            gen = self.llm_stream.generate.remote(messages, max_new, temperature, versions)
            try:
                async for raw in gen:
                    for ev in from_llm(raw):
                        if isinstance(ev, Started):
                            if not started:
                                started = True
                                yield ev
                            continue
                        if isinstance(ev, TextDelta):
                            produced += ev.text
                            if len(produced) <= len(sent):
                                continue
                            if not produced.startswith(sent):
                                raise RuntimeError("the resumed LLM stream diverged from what was sent")
                            ev = TextDelta(produced[len(sent):])
                            sent = produced
                        yield ev
                return
            except CodesVersionMismatch as e:  # raised before `start`: nothing was sent yet
                mismatches += 1
                if mismatches > MAX_VERSION_RETRIES:
                    raise ApiError(503, "the model is being updated (speech tokenizer and LLM "
                                   "versions differ right now); retry in a few seconds",
                                   "model_updating") from e
                await asyncio.sleep(0.05 * mismatches)  # the router picks a replica again
            except self.death:
                attempt += 1
                if attempt == ATTEMPTS:
                    raise
                self.metrics.failovers.inc()
                log.warning("LLM replica died mid-stream; resuming on another replica")

    async def open(self, messages: list[Message], max_new: int | None = None,
                   temperature: float | None = None, *, route: str, t0: float) -> Turn:
        """Start the LLM stream and wait for its `start`, so prompt errors become 4xx. `route`
        and `t0` (the request's arrival, perf_counter) label its time-to-first metrics."""
        events = self.llm_events(messages_to_json(messages), max_new, temperature)
        first = await events.__anext__()
        if not isinstance(first, Started):
            await events.aclose()
            raise RuntimeError(f"the LLM stream began with {type(first).__name__}, not start")
        return Turn(first, events, self.metrics, route, t0)


class Turn:
    """A reply the LLM has started: `reply()` reads it once; `aclose()` stops everything (also
    when the reply was never read)."""

    def __init__(self, started: Started, events: AsyncGenerator[LLMEvent, None], metrics: Metrics,
                 route: str, t0: float):
        self.started, self._events, self._metrics, self._route, self._t0 = started, events, metrics, route, t0
        self._reply: AsyncGenerator[ReplyEvent, None] | None = None

    def reply(self, tts: Synthesize | None) -> AsyncIterator[ReplyEvent]:
        """Text deltas, each sentence's `Speech` (with `tts`), then `Finished`: every sentence is
        synthesized as soon as it ends, while the text streams on, and its audio follows strictly
        in sentence order, after its text."""
        if self._reply is not None:
            raise RuntimeError("a turn's reply can be read once")
        self._reply = self._pipeline(tts)
        return self._reply

    async def aclose(self) -> None:
        if self._reply is not None:
            await self._reply.aclose()
        await self._events.aclose()

    async def _pipeline(self, tts: Synthesize | None) -> AsyncGenerator[ReplyEvent, None]:
        m, route, t0, gen = self._metrics, self._route, self._t0, self._events
        chunker, index = SentenceChunker(), 0
        pending: deque[tuple[int, str, asyncio.Future[bytes]]] = deque()
        finish: Finished | None = None
        first_token: float | None = None
        first_audio: float | None = None

        def schedule(sentences: list[str]) -> None:
            nonlocal index
            for s in sentences if tts is not None else ():
                pending.append((index, s, asyncio.ensure_future(tts(s))))
                index += 1

        next_ev: asyncio.Future | None = asyncio.ensure_future(gen.__anext__())
        try:
            while next_ev is not None or pending:
                waits = ({next_ev} if next_ev is not None else set()) | ({pending[0][2]} if pending else set())
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                while pending and pending[0][2].done():  # audio strictly in sentence order
                    i, s, task = pending.popleft()
                    if first_audio is None:
                        first_audio = time.perf_counter() - t0
                        m.ttfa.labels(route).observe(first_audio)
                    yield Speech(i, s, task.result())
                if next_ev is not None and next_ev.done():
                    try:
                        ev = next_ev.result()
                    except StopAsyncIteration:
                        next_ev = None
                        schedule(chunker.flush())
                        continue
                    next_ev = asyncio.ensure_future(gen.__anext__())
                    if isinstance(ev, TextDelta):
                        if first_token is None:
                            first_token = time.perf_counter() - t0
                            m.ttft.labels(route).observe(first_token)
                        yield ev
                        schedule(chunker.push(ev.text))
                    elif isinstance(ev, Finished):
                        finish = dataclasses.replace(ev, ttft=first_token)
                        schedule(chunker.flush())  # no trailing space needed once the reply ended
            yield finish if finish is not None else Finished(ttft=first_token)
        finally:
            for t in ([next_ev] if next_ev is not None else []) + [p[2] for p in pending]:
                t.cancel()
            await gen.aclose()


__all__ = ["MAX_VERSION_RETRIES", "Synthesize", "Turn", "TurnEngine", "ray_death_errors"]
