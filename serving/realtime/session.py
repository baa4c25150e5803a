"""One realtime connection: client events in, server events out, server VAD turn taking,
responses (LLM text streamed, each sentence spoken as soon as it ends) and barge-in.

Concurrency: the receive loop runs the VAD inline (Silero scores 32 ms in ~0.1 ms), so speech is
noticed while a reply is generated; a turn (encode -> commit -> respond) and a response each run
as a task the loop can cancel; every server event goes through one queue and one writer, so the
client sees them in the order they were made.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field


from ichigo.assistant import SentenceChunker
from ichigo.audio import resample, wav_bytes
from ichigo.chat_template import Sound
from ichigo.config import ServingConfig
from ichigo.errors import InputError
from ichigo.vad import SpeechStarted, SpeechStopped, VadSettings
from serving.realtime.backend import Backend
from serving.realtime.config import SessionConfig, TurnDetection, apply_update
from serving.realtime.conversation import MESSAGE_OVERHEAD, Conversation, Item, text_tokens
from serving.realtime.input_audio import InputAudio, pcm_ms, pcm_to_float
from serving.realtime.limits import RealtimeMetrics
from serving.realtime.protocol import (PCM_RATE, ProtocolError, b64, decode_pcm16, new_id, parse_event,
                                       require, server_event)

log = logging.getLogger("ichigo.serving.realtime")

AUDIO_PIECE_MS = 200  # audio deltas are cut into pieces this long (smooth playback, fine truncation)
# Audio goes out at most this far ahead of real-time playback (counted from the first delta). The
# response stays in progress while it is spoken, so a barge-in cancels it and audio the client never
# got is never sent; the server's idea of what was heard is off by at most this much.
AUDIO_LEAD_MS = 600
MIN_COMMIT_MS = 100  # OpenAI refuses to commit less than 100 ms of audio


@dataclass
class Run:
    """A response in flight (and, after it ends, its audio as the client plays it)."""
    id: str
    item: Item
    max_new: int | None
    modalities: tuple[str, ...]
    instructions: str
    stopped_at: float | None = None  # when the user's speech ended (perf_counter), for first-audio time
    task: asyncio.Task | None = None
    status: str = "in_progress"
    reason: str | None = None
    text: list[str] = field(default_factory=list)
    spoken: list[tuple[str, int]] = field(default_factory=list)  # (sentence, its audio ms) as sent
    audio_ms: int = 0
    first_audio_at: float | None = None
    usage: dict = field(default_factory=dict)
    done: bool = False

    def played_ms(self, now: float) -> int:
        """The client plays audio in real time from the first delta: what it has heard so far."""
        if self.first_audio_at is None:
            return 0
        return min(self.audio_ms, int(1000 * (now - self.first_audio_at)))

    def heard_text(self, played_ms: int) -> str:
        """The reply's words up to `played_ms` of its audio (a partly played sentence by words)."""
        out, t = [], 0
        for sentence, ms in self.spoken:
            if t + ms <= played_ms:
                out.append(sentence)
            elif played_ms > t and ms:
                words = sentence.split()
                out.append(" ".join(words[:int(len(words) * (played_ms - t) / ms)]))
                break
            else:
                break
            t += ms
        return " ".join(w for w in out if w)


class RealtimeSession:
    def __init__(self, ws, backend: Backend, cfg: ServingConfig, metrics: RealtimeMetrics, beta: bool = False):
        self.beta = beta  # the client asked for the beta dialect (serving/realtime/beta.py)
        self.ws, self.backend, self.cfg, self.rt, self.metrics = ws, backend, cfg, cfg.realtime, metrics
        self.id = new_id("sess")
        self.started = time.monotonic()
        self.defaults = VadSettings(self.rt.vad_threshold, self.rt.vad_prefix_padding_ms,
                                    self.rt.vad_silence_duration_ms)
        instructions = "\n".join(p for p in (self.rt.identity_prompt, self.rt.spoken_style_prompt) if p)
        self.config = SessionConfig(model=backend.model_name, instructions=instructions, voice=backend.voices[0],
                                    turn_detection=TurnDetection(self.defaults))
        self.conv = Conversation()
        self.out: asyncio.Queue = asyncio.Queue()
        self.closed = False
        self.audio = InputAudio(cfg.max_audio_seconds)
        self.speech: tuple[str, int] | None = None  # (item id, audio_start_ms) of speech in progress
        self.run: Run | None = None  # the response in flight
        self.last: Run | None = None  # the latest response (its audio may still be playing)
        self.turn_task: asyncio.Task | None = None
        self.background: set[asyncio.Task] = set()  # input transcriptions

    # -- output -------------------------------------------------------------------------------------
    def emit(self, type_: str, **fields) -> None:
        if not self.closed:
            self.out.put_nowait(server_event(type_, **fields))

    def emit_error(self, e: ProtocolError) -> None:
        if not self.closed:
            self.out.put_nowait(e.event())

    async def _writer(self) -> None:
        from serving.realtime.beta import to_beta

        while True:
            ev = await self.out.get()
            if ev is None:
                return
            if self.beta and (ev := to_beta(ev)) is None:
                continue
            await self.ws.send_text(json.dumps(ev, ensure_ascii=False, separators=(",", ":")))

    def session_json(self) -> dict:
        expires = int(self.started - time.monotonic() + time.time() + self.rt.max_session_s)
        return self.config.to_json(self.id, expires)

    # -- the connection loop ---------------------------------------------------------------------------
    async def serve(self) -> None:
        writer = asyncio.create_task(self._writer())
        self.emit("session.created", session=self.session_json())
        try:
            await self._receive_loop(writer)
        finally:
            self.closed = True
            # a client gone mid-reply frees its generation slot at once
            await self._stop_tasks()
            self.out.put_nowait(None)
            try:
                await asyncio.wait_for(writer, 2.0)
            except BaseException:  # noqa: BLE001 - the socket may already be gone
                writer.cancel()

    async def _receive_loop(self, writer: asyncio.Task) -> None:
        idle_deadline = time.monotonic() + self.rt.idle_timeout_s
        end = self.started + self.rt.max_session_s
        while True:
            now = time.monotonic()
            timeout = min(idle_deadline, end) - now
            if timeout <= 0:
                expired = now >= end
                self.emit_error(ProtocolError(
                    "session_expired", "the session reached its maximum duration (serving.realtime.max_session_s)"
                    if expired else "no client event for serving.realtime.idle_timeout_s seconds", type="invalid_request_error"))
                await self._drain(writer)
                await self.ws.close(1000)
                return
            recv = asyncio.ensure_future(self.ws.receive())
            done, _ = await asyncio.wait({recv, writer}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            if writer in done:  # the socket broke while sending
                recv.cancel()
                return
            if not done:
                recv.cancel()
                continue
            msg = recv.result()
            if msg["type"] == "websocket.disconnect":
                return
            idle_deadline = time.monotonic() + self.rt.idle_timeout_s
            raw = msg.get("text") if msg.get("text") is not None else msg.get("bytes") or b""
            try:
                await self.handle(parse_event(raw, self.rt.max_event_bytes))
            except ProtocolError as e:
                self.emit_error(e)

    async def _drain(self, writer: asyncio.Task) -> None:
        self.out.put_nowait(None)
        self.closed = True
        try:
            await asyncio.wait_for(writer, 2.0)
        except BaseException:  # noqa: BLE001
            pass

    async def _stop_tasks(self) -> None:
        for t in (self.turn_task, self.run.task if self.run else None, *self.background):
            if t is not None and not t.done():
                t.cancel()
                try:
                    await t
                except BaseException:  # noqa: BLE001 - cancelled or failed; either way it is over
                    pass

    # -- client events -----------------------------------------------------------------------------------
    async def handle(self, ev: dict) -> None:
        t, eid = ev["type"], ev.get("event_id")
        if t == "session.update":
            self.config = apply_update(self.config, ev.get("session"), self.defaults, set(self.backend.voices),
                                       self.cfg.max_new_tokens, eid)
            self.emit("session.updated", session=self.session_json())
        elif t == "input_audio_buffer.append":
            self.append(decode_pcm16(ev.get("audio"), eid), eid)
        elif t == "input_audio_buffer.commit":
            self.commit_manual(eid)
        elif t == "input_audio_buffer.clear":
            self.audio.clear()
            self.speech = None
            self.emit("input_audio_buffer.cleared")
        elif t == "conversation.item.create":
            await self.create_item(ev, eid)
        elif t == "conversation.item.delete":
            item_id = require(ev, "item_id", str)
            if not self.conv.delete(item_id):
                raise ProtocolError("item_not_found", f"no item {item_id!r} in the conversation", "item_id", eid)
            self.emit("conversation.item.deleted", item_id=item_id)
        elif t == "conversation.item.retrieve":
            item = self._item(require(ev, "item_id", str), eid)
            self.emit("conversation.item.retrieved", item=item.to_json())
        elif t == "conversation.item.truncate":
            self.truncate_item(ev, eid)
        elif t == "response.create":
            self.create_response(ev.get("response") or {}, eid)
        elif t == "response.cancel":
            run = self.run
            if run is None or run.done or (ev.get("response_id") not in (None, run.id)):
                raise ProtocolError("response_cancel_not_active", "there is no active response to cancel",
                                    "response_id", eid)
            await self.cancel(run, "client_cancelled")
        elif t == "output_audio_buffer.clear":
            pass  # WebRTC only: over a WebSocket the client owns playback

    def _item(self, item_id: str, eid: str | None) -> Item:
        item = self.conv.get(item_id)
        if item is None:
            raise ProtocolError("item_not_found", f"no item {item_id!r} in the conversation", "item_id", eid)
        return item

    # -- input audio and server VAD --------------------------------------------------------------------------
    def append(self, pcm: bytes, eid: str | None) -> None:
        td = self.config.turn_detection
        if td is None and len(self.audio) + len(pcm) > self.audio.max_bytes:
            raise ProtocolError("input_audio_buffer_too_large", f"the input buffer would hold over "
                                f"{self.cfg.max_audio_seconds:g} s (serving.max_audio_seconds): commit or clear it "
                                "first", "audio", eid)
        for e in self.audio.append(pcm, td.vad if td is not None else None):
            if isinstance(e, SpeechStarted):
                self.on_speech_started(e.audio_start_ms, td)
            elif isinstance(e, SpeechStopped):
                self.on_speech_stopped(e.audio_end_ms, td)
        if td is not None and self.speech is None:
            self.audio.keep_last(td.vad.prefix_padding_ms + 1000)

    def on_speech_started(self, start_ms: int, td: TurnDetection) -> None:
        item_id = new_id("item")
        self.speech = (item_id, start_ms)
        self.emit("input_audio_buffer.speech_started", audio_start_ms=start_ms, item_id=item_id)
        if not td.interrupt_response:
            return
        now = time.perf_counter()
        if self.run is not None and not self.run.done:
            run = self.run
            asyncio.ensure_future(self.cancel(run, "turn_detected", started=now))
        elif self.last is not None and self.last.played_ms(now) < self.last.audio_ms:
            self._truncate_heard(self.last, self.last.played_ms(now))  # done generating, still playing

    def on_speech_stopped(self, end_ms: int, td: TurnDetection) -> None:
        if self.speech is None:
            return
        item_id, start_ms = self.speech
        self.speech = None
        self.emit("input_audio_buffer.speech_stopped", audio_end_ms=end_ms, item_id=item_id)
        stopped_at = time.perf_counter()
        audio = self.audio.take(start_ms, end_ms)
        self.turn_task = asyncio.ensure_future(self._turn(item_id, audio, td.create_response, stopped_at))

    def commit_manual(self, eid: str | None) -> None:
        if pcm_ms(len(self.audio)) < MIN_COMMIT_MS:
            raise ProtocolError("input_audio_buffer_commit_empty", f"buffer too small: expected at least "
                                f"{MIN_COMMIT_MS} ms of audio, have {pcm_ms(len(self.audio))} ms", None, eid)
        item_id = self.speech[0] if self.speech else new_id("item")
        audio, self.speech = self.audio.take_all(), None
        self.turn_task = asyncio.ensure_future(self._turn(item_id, audio, False, time.perf_counter(), eid))

    async def _encode(self, pcm: bytes) -> list[int]:
        wave = resample(pcm_to_float(pcm), PCM_RATE, 16000)
        return await self.backend.encode(wav_bytes(wave))

    async def _turn(self, item_id: str, audio: bytes, respond: bool, stopped_at: float,
                    eid: str | None = None) -> None:
        """A committed stretch of speech -> a user item (sound tokens) -> maybe a response."""
        try:
            codes = await self._encode(audio)
        except InputError as e:
            self.emit_error(ProtocolError("invalid_audio", f"the committed audio was not usable: {e}",
                                          "audio", eid))
            return
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - the session outlives a failed model call
            log.exception("encoding a realtime turn failed")
            self.emit_error(ProtocolError("server_error", f"encoding the audio failed ({type(e).__name__})",
                                          type="server_error"))
            return
        item = Item(item_id, "user", [Sound(codes)], audio_ms=pcm_ms(len(audio)))
        prev = self.conv.add(item)
        self.emit("input_audio_buffer.committed", previous_item_id=prev, item_id=item_id)
        self.emit("conversation.item.added", previous_item_id=prev, item=item.to_json())
        self.emit("conversation.item.done", previous_item_id=prev, item=item.to_json())
        if self.config.transcription:
            task = asyncio.ensure_future(self._transcribe(item, codes))
            self.background.add(task)
            task.add_done_callback(self.background.discard)
        # no reply while the user is already speaking again: their next words join this turn
        if respond and self.speech is None and (self.run is None or self.run.done):
            self.start_response({}, stopped_at)

    async def _transcribe(self, item: Item, codes: list[int]) -> None:
        """The user's words, by the model itself with its training's transcription prompt. Runs
        after the reply has been generated, so it never delays the reply's first audio."""
        from ichigo.chat_template import user_audio
        from ichigo.prompts import TRANSCRIBE_PROMPTS

        while self.run is not None and not self.run.done:
            await asyncio.sleep(0.05)
        text: list[str] = []
        gen = self.backend.generate([user_audio(codes, TRANSCRIBE_PROMPTS[0])], self.cfg.max_new_tokens)
        try:
            async for ev in gen:
                if ev["type"] == "text":
                    text.append(ev["delta"])
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - a failed transcript does not end the session
            self.emit("conversation.item.input_audio_transcription.failed", item_id=item.id, content_index=0,
                      error={"type": "server_error", "code": "transcription_failed", "message": type(e).__name__})
            return
        finally:
            await gen.aclose()
        item.transcript = "".join(text).strip()
        self.emit("conversation.item.input_audio_transcription.completed", item_id=item.id, content_index=0,
                  transcript=item.transcript, usage=None)

    # -- items -------------------------------------------------------------------------------------------
    async def create_item(self, ev: dict, eid: str | None) -> None:
        raw = require(ev, "item", dict)
        if raw.get("type", "message") != "message":
            raise ProtocolError("unsupported_feature", f"item type {raw.get('type')!r} is not supported: only "
                                "messages", "item.type", eid)
        role = raw.get("role")
        if role not in ("user", "assistant", "system"):
            raise ProtocolError("invalid_value", "item.role must be user, assistant or system", "item.role", eid)
        content = raw.get("content")
        if not isinstance(content, list) or not content:
            raise ProtocolError("invalid_value", "item.content must be a non-empty list of parts", "item.content", eid)
        parts: list = []
        kind = "text"
        for i, p in enumerate(content):
            where = f"item.content[{i}]"
            if not isinstance(p, dict):
                raise ProtocolError("invalid_value", f"{where} must be an object", where, eid)
            pt = p.get("type")
            if role == "user" and pt == "input_audio":
                pcm = decode_pcm16(p.get("audio"), eid, f"{where}.audio")
                if pcm_ms(len(pcm)) < MIN_COMMIT_MS or len(pcm) > self.audio.max_bytes:
                    raise ProtocolError("invalid_audio", f"{where}.audio must hold {MIN_COMMIT_MS} ms to "
                                        f"{self.cfg.max_audio_seconds:g} s of PCM16 at 24 kHz", where, eid)
                try:
                    parts.append(Sound(await self._encode(pcm)))
                except InputError as e:
                    raise ProtocolError("invalid_audio", f"{where}.audio: {e}", where, eid) from None
                kind = "audio"
            elif pt in ("input_text", "text", "output_text") or (role == "assistant" and pt == "output_audio"):
                text = p.get("transcript") if pt == "output_audio" else p.get("text")
                if not isinstance(text, str) or len(text) > self.cfg.max_text_chars:
                    raise ProtocolError("invalid_value", f"{where} needs a string "
                                        f"{'transcript' if pt == 'output_audio' else 'text'} of at most "
                                        f"{self.cfg.max_text_chars} characters", where, eid)
                parts.append(text)
                kind = "audio" if pt == "output_audio" else kind
            else:
                raise ProtocolError("invalid_value", f"{where}.type {pt!r} is not allowed in a {role} message",
                                    f"{where}.type", eid)
        item = Item(raw.get("id") if isinstance(raw.get("id"), str) else new_id("item"), role, parts, kind=kind)
        if self.conv.get(item.id) is not None:
            raise ProtocolError("duplicate_item_id", f"an item {item.id!r} exists already", "item.id", eid)
        prev = self.conv.add(item)
        self.emit("conversation.item.added", previous_item_id=prev, item=item.to_json())
        self.emit("conversation.item.done", previous_item_id=prev, item=item.to_json())

    def truncate_item(self, ev: dict, eid: str | None) -> None:
        item = self._item(require(ev, "item_id", str), eid)
        ms = require(ev, "audio_end_ms", int)
        if item.role != "assistant" or ms < 0:
            raise ProtocolError("invalid_value", "only an assistant item's audio can be truncated, at "
                                "audio_end_ms >= 0", "item_id", eid)
        run = next((r for r in (self.last, self.run) if r is not None and r.item is item), None)
        if run is None:
            raise ProtocolError("invalid_value", "that item's audio is no longer held", "item_id", eid)
        if ms > run.audio_ms:
            raise ProtocolError("invalid_value", f"audio_end_ms {ms} is past the item's audio ({run.audio_ms} ms)",
                                "audio_end_ms", eid)
        self._truncate_heard(run, ms)

    def _truncate_heard(self, run: Run, played_ms: int) -> None:
        heard = run.heard_text(played_ms)
        run.item.parts, run.item.tokens = [heard], None
        run.audio_ms = min(run.audio_ms, played_ms)
        run.spoken = [(heard, played_ms)]
        self.emit("conversation.item.truncated", item_id=run.item.id, content_index=0, audio_end_ms=played_ms)

    # -- responses ---------------------------------------------------------------------------------------
    def create_response(self, params: dict, eid: str | None) -> None:
        if not isinstance(params, dict):
            raise ProtocolError("invalid_value", "response must be an object", "response", eid)
        if self.run is not None and not self.run.done:
            raise ProtocolError("conversation_already_has_active_response", f"response {self.run.id} is in "
                                "progress: cancel it (response.cancel) or wait for response.done", None, eid)
        conv = params.get("conversation", "auto")
        if conv not in ("auto", None) or params.get("input") is not None or params.get("tools"):
            raise ProtocolError("unsupported_feature", "out-of-band responses, input lists and tools are not "
                                "supported: responses use the session's conversation", "response", eid)
        for k, kind in (("instructions", str), ("output_modalities", list)):
            if k in params and not isinstance(params[k], kind):
                raise ProtocolError("invalid_value", f"response.{k} must be a {kind.__name__}", f"response.{k}", eid)
        if "output_modalities" in params and (not params["output_modalities"] or any(
                m not in ("text", "audio") for m in params["output_modalities"])):
            raise ProtocolError("invalid_value", "output_modalities must be [\"audio\"] or [\"text\"]",
                                "response.output_modalities", eid)
        n = params.get("max_output_tokens")
        if n is not None and n != "inf" and not (isinstance(n, int) and not isinstance(n, bool) and n >= 1):
            raise ProtocolError("invalid_value", "max_output_tokens must be a positive integer or \"inf\"",
                                "response.max_output_tokens", eid)
        if not any(i.role == "user" for i in self.conv.items):
            raise ProtocolError("conversation_empty", "the conversation has no user turn to answer: append and "
                                "commit audio or create a user item first", None, eid)
        self.start_response(params, None)

    def start_response(self, params: dict, stopped_at: float | None) -> None:
        mods = params.get("output_modalities") or list(self.config.output_modalities)
        n = params.get("max_output_tokens")
        max_new = self.config.max_output_tokens if n in (None, "inf") else min(n, self.cfg.max_new_tokens)
        kind = "audio" if "audio" in mods else "text"
        item = Item(new_id("item"), "assistant", [""], status="in_progress", kind=kind)
        run = Run(new_id("resp"), item, max_new, (kind,), params.get("instructions", self.config.instructions),
                  stopped_at)
        self.run = self.last = run
        run.task = asyncio.ensure_future(self._respond(run))

    def _response_json(self, run: Run) -> dict:
        details = None
        if run.status == "cancelled":
            details = {"type": "cancelled", "reason": run.reason}
        elif run.status == "incomplete":
            details = {"type": "incomplete", "reason": run.reason}
        elif run.status == "failed":
            details = {"type": "failed", "error": run.reason}
        return {"id": run.id, "object": "realtime.response", "status": run.status, "status_details": details,
                "output": [run.item.to_json()] if run.status != "in_progress" else [],
                "conversation_id": self.id, "output_modalities": list(run.modalities),
                "max_output_tokens": run.max_new or "inf",
                "audio": {"output": {"format": {"type": "audio/pcm", "rate": PCM_RATE}, "voice": self.config.voice}},
                "usage": run.usage or None, "metadata": None}

    def _ids(self, run: Run) -> dict:
        return {"response_id": run.id, "item_id": run.item.id, "output_index": 0, "content_index": 0}

    async def _respond(self, run: Run) -> None:
        self.emit("response.created", response=self._response_json(run))
        item, kind = run.item, run.modalities[0]
        # keep the conversation within the model's context: oldest items go first, whole
        ctx = await self.backend.context_tokens()
        max_new = run.max_new or self.cfg.max_new_tokens
        system = text_tokens(run.instructions) + MESSAGE_OVERHEAD if run.instructions.strip() else 0
        budget = ctx - max_new - system - MESSAGE_OVERHEAD
        for dropped in self.conv.fit(budget):
            self.emit("conversation.item.deleted", item_id=dropped.id, reason="context_limit")
        if sum(i.token_bound() for i in self.conv.items) > budget:
            return self._fail(run, "context_length_exceeded", "the last turn alone does not fit the model's "
                              f"context ({ctx} tokens with {max_new} for the reply)")
        messages = self.conv.messages(run.instructions)
        if not messages or messages[-1].role != "user":
            return self._fail(run, "conversation_empty", "the conversation does not end with a user turn")
        prev = self.conv.add(item)
        part = {"type": "output_audio", "transcript": ""} if kind == "audio" else {"type": "output_text", "text": ""}
        self.emit("conversation.item.added", previous_item_id=prev, item=item.to_json())
        self.emit("response.output_item.added", response_id=run.id, output_index=0, item=item.to_json())
        self.emit("response.content_part.added", **self._ids(run), part=part)
        self.metrics.generating.inc()
        ids = self._ids(run)
        tts_q: asyncio.Queue = asyncio.Queue()
        pump = asyncio.ensure_future(self._audio_pump(run, tts_q)) if kind == "audio" else None
        gen = self.backend.generate(messages, max_new)
        chunker = SentenceChunker()
        prompt_tokens, finish = 0, {}

        def speak(sentences: list[str]) -> None:
            for s in sentences if pump is not None else ():  # (the ingress makes the text speakable)
                tts_q.put_nowait((s, asyncio.ensure_future(self.backend.synthesize(s, self.config.voice))))

        try:
            try:
                async for ev in gen:
                    if ev["type"] == "start":
                        prompt_tokens = int(ev.get("prompt_tokens") or 0)
                    elif ev["type"] == "text":
                        run.text.append(ev["delta"])
                        self.emit("response.output_audio_transcript.delta" if kind == "audio"
                                  else "response.output_text.delta", **ids, delta=ev["delta"])
                        speak(chunker.push(ev["delta"]))
                    elif ev["type"] == "end":
                        finish = ev
            finally:
                await gen.aclose()  # the LLM replica stops at once if we got here early
                self.metrics.generating.dec()
            speak(chunker.flush())
            tts_q.put_nowait(None)
            if pump is not None:
                await pump
        except asyncio.CancelledError:
            self._cancel_tail(run, pump, tts_q)
            raise
        except InputError as e:
            self._cancel_tail(run, pump, tts_q)
            return self._fail(run, "invalid_request", str(e))
        except Exception as e:  # noqa: BLE001 - a failed model call fails this response, not the session
            log.exception("realtime response failed")
            self._cancel_tail(run, pump, tts_q)
            return self._fail(run, "server_error", f"the response failed ({type(e).__name__})")
        text = "".join(run.text)
        n = int(finish.get("completion_tokens") or 0)
        item.parts, item.tokens, item.status = [text], n or None, "completed"
        item.audio_ms = run.audio_ms
        audio_in = sum(len(p.codes) for i in self.conv.items for p in i.parts if isinstance(p, Sound))
        run.usage = {"total_tokens": prompt_tokens + n, "input_tokens": prompt_tokens, "output_tokens": n,
                     "input_token_details": {"text_tokens": max(0, prompt_tokens - audio_in), "audio_tokens": audio_in,
                                             "cached_tokens": 0},
                     "output_token_details": {"text_tokens": n, "audio_tokens": 0}}
        length = finish.get("finish_reason") == "length"
        self._finish(run, "incomplete" if length else "completed", "max_output_tokens" if length else None)

    async def _audio_pump(self, run: Run, q: asyncio.Queue) -> None:
        """Each sentence's speech, strictly in order, as audio deltas (TTS runs ahead in parallel)."""
        piece = 2 * PCM_RATE * AUDIO_PIECE_MS // 1000
        while True:
            job = await q.get()
            if job is None:
                return
            sentence, fut = job
            pcm = await fut
            if run.first_audio_at is None:
                run.first_audio_at = time.perf_counter()
                if run.stopped_at is not None:
                    self.metrics.first_audio.observe(run.first_audio_at - run.stopped_at)
            run.spoken.append((sentence, 0))
            for i in range(0, len(pcm), piece):
                ahead = run.audio_ms - 1000 * (time.perf_counter() - run.first_audio_at)
                if ahead > AUDIO_LEAD_MS:
                    await asyncio.sleep((ahead - AUDIO_LEAD_MS) / 1000)
                chunk = pcm[i:i + piece]
                self.emit("response.output_audio.delta", **self._ids(run), delta=b64(chunk))
                run.spoken[-1] = (sentence, run.spoken[-1][1] + pcm_ms(len(chunk)))
                run.audio_ms += pcm_ms(len(chunk))

    def _cancel_tail(self, run: Run, pump: asyncio.Task | None, q: asyncio.Queue) -> None:
        if pump is not None:
            pump.cancel()
        while not q.empty():
            job = q.get_nowait()
            if job is not None:
                job[1].cancel()

    def _finish(self, run: Run, status: str, reason: str | None) -> None:
        run.status, run.reason, run.done = status, reason, True
        item, ids, text = run.item, self._ids(run), "".join(run.text)
        if item.status == "in_progress":
            item.status = "incomplete"
        if run.modalities[0] == "audio":
            self.emit("response.output_audio.done", **ids)
            self.emit("response.output_audio_transcript.done", **ids, transcript=text)
            part = {"type": "output_audio", "transcript": text}
        else:
            self.emit("response.output_text.done", **ids, text=text)
            part = {"type": "output_text", "text": text}
        self.emit("response.content_part.done", **ids, part=part)
        self.emit("response.output_item.done", response_id=run.id, output_index=0, item=item.to_json())
        self.emit("conversation.item.done", item=item.to_json())
        self.emit("response.done", response=self._response_json(run))
        self.metrics.responses.labels(status).inc()

    def _fail(self, run: Run, code: str, message: str) -> None:
        run.status, run.reason, run.done = "failed", {"type": "invalid_request_error", "code": code,
                                                     "message": message}, True
        if self.conv.get(run.item.id) is not None:
            self.conv.delete(run.item.id)
        self.emit_error(ProtocolError(code, message))
        self.emit("response.done", response=self._response_json(run))
        self.metrics.responses.labels("failed").inc()

    async def cancel(self, run: Run, reason: str, started: float | None = None) -> None:
        """Stop a response: generation and pending TTS stop, the client gets response.done
        `cancelled`, and the reply keeps only the words whose audio was played."""
        if run.done or run.task is None:
            return
        started = started or time.perf_counter()
        run.task.cancel()
        try:
            await run.task
        except BaseException:  # noqa: BLE001 - CancelledError, or it failed on its own meanwhile
            pass
        if run.done:  # it finished (or failed) before the cancel landed
            return
        self.metrics.barge_in.observe(time.perf_counter() - started)
        played = run.played_ms(time.perf_counter())
        run.item.parts = [run.heard_text(played) if run.modalities[0] == "audio" else "".join(run.text)]
        run.item.tokens = None
        self._finish(run, "cancelled", reason)
        if run.modalities[0] == "audio" and self.conv.get(run.item.id) is not None:
            run.audio_ms = played
            self.emit("conversation.item.truncated", item_id=run.item.id, content_index=0, audio_end_ms=played)
        if self.conv.get(run.item.id) is not None and not run.item.text().strip():
            self.conv.delete(run.item.id)  # nothing was heard: the reply never happened


__all__ = ["RealtimeSession", "Run"]
