"""The HTTP face of the graph: a FastAPI app composed over SpeechTokenizer, LLM and TTS handles.

Routes: `/` (voice page), `/healthz`, `/readyz`, `/metrics`, `GET /v1/models`,
`POST /v1/speech` (audio in -> streamed text + audio), `POST /v1/chat` (text, streamed),
`POST /v1/chat/completions` (OpenAI-compatible: text and `input_audio` parts in; text, or with
`modalities: ["text", "audio"]` text + speech out; stream or not).
"""


import asyncio
import base64
import json
import logging
import time
from collections import deque
from importlib import resources
from typing import Any, AsyncIterator, Awaitable, Callable

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from ray import serve

from ichigo.assistant import check_text, conversation
from ichigo.chat_template import Message, Sound, messages_from_json, messages_to_json, user_audio
from ichigo.config import Profile
from serving import access
from serving.errors import ApiError, from_exception
from serving.versions import CodesVersionMismatch, codes_versions, note_codes_version
from serving.events import SSE, OpenAIChunks, audio_event, encode, pick_media_type
from serving.metrics import CONTENT_TYPE_LATEST, Metrics
from serving.openai_api import (PCM16_RATE, WAV_RATE, AudioPart, audio_bytes, parse_request, pcm16_wav,
                                pick_voice)

log = logging.getLogger("ichigo.serving")

api = FastAPI(title="Ichigo speech assistant", docs_url="/docs", redoc_url=None)
api.add_middleware(access.AccessMiddleware)  # keys, limits, timeouts, CORS: serving/access.py

# what browsers' MediaRecorder and common tools send; everything is decoded by ichigo.audio
AUDIO_TYPES = {"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave", "audio/webm", "video/webm",
               "audio/ogg", "audio/opus", "audio/mp4", "audio/m4a", "audio/x-m4a", "video/mp4",
               "audio/mpeg", "audio/mp3", "audio/flac", "audio/x-flac", "audio/aac",
               "application/octet-stream"}
MULTIPART_SLACK = 64 * 1024  # form boundaries and a history field on top of the audio
MAX_VERSION_RETRIES = 8  # LLM replicas tried for a request whose codes came from another version


def _ray_death_errors() -> tuple[type[BaseException], ...]:
    from ray import exceptions as rex

    return tuple(c for c in (getattr(rex, "RayActorError", None), getattr(rex, "ActorUnavailableError", None))
                 if c is not None)


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


def _json(body: bytes) -> Any:
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


def _media(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _history(raw: Any, max_chars: int) -> list[Message]:
    if raw in (None, ""):
        return []
    if isinstance(raw, str):
        raw = _json(raw.encode())
    if not isinstance(raw, list):
        raise ApiError(400, "history must be a JSON list of {role, content} messages", param="history")
    try:
        msgs = messages_from_json(raw)
    except ValueError as e:
        raise ApiError(400, f"history: {e}", param="history") from None
    for m in msgs:
        check_text(m.text or " x", max_chars)
    return msgs


def _expand(ev: dict) -> tuple[dict, ...]:
    """The LLM sends the last text piece inside its `end` event (one message less, and the last
    sentence's TTS starts a message earlier); downstream sees a text event, then `end`."""
    if ev["type"] == "end" and ev.get("delta"):
        end = dict(ev)
        return {"type": "text", "delta": end.pop("delta")}, end
    return (ev,)


@api.exception_handler(ApiError)
async def _api_error(_: Request, e: ApiError) -> JSONResponse:
    return JSONResponse(e.body(), status_code=e.status)


@serve.ingress(api)
class Ingress:
    def __init__(self, speech, llm, tts, profile: Profile):
        # by value: calls go straight to the replica's gRPC server instead of through Ray's task
        # and object-store path (Ray Serve's throughput-optimized data plane); everything passed
        # is plain bytes/str/int/list/dict. ~8 ms less ingress CPU per spoken turn on 2 cores.
        self.speech, self.llm, self.tts = (h.options(_by_reference=False) for h in (speech, llm, tts))
        self._llm_stream = self.llm.options(stream=True)
        self.profile, self.cfg = profile, profile.serving
        self.model_name = profile.registry.model_name
        # keys from this replica's environment; a malformed key file fails the replica's start
        access.configure(self.cfg.access, self.cfg.max_upload_bytes * 4 // 3 + MULTIPART_SLACK)
        self.metrics = Metrics()
        self.page = resources.files("serving").joinpath("static/index.html").read_text()
        self._death = _ray_death_errors()
        self._realtime_init()

    # -- plumbing ---------------------------------------------------------------------------------
    def _fail(self, route: str, e: BaseException, t0: float) -> JSONResponse:
        err = from_exception(e)
        if err is None:
            log.exception("internal error on %s", route, exc_info=e)
            err = ApiError(500, f"internal error ({type(e).__name__}); see the server log", "server_error")
        self.metrics.requests.labels(route, str(err.status)).inc()
        self.metrics.errors.labels(route, err.type).inc()
        self.metrics.latency.labels(route).observe(time.perf_counter() - t0)
        return JSONResponse(err.body(), status_code=err.status)

    def _ok(self, route: str, t0: float, status: int = 200) -> None:
        self.metrics.requests.labels(route, str(status)).inc()
        self.metrics.latency.labels(route).observe(time.perf_counter() - t0)

    async def _retry(self, call, *args):
        """A unary handle call, retried once if its replica died under it (idempotent calls)."""
        for attempt in range(3):
            try:
                return await call.remote(*args)
            except self._death:
                if attempt == 2:
                    raise
                self.metrics.failovers.inc()

    async def _encode(self, audio: bytes) -> list[int]:
        out = await self._retry(self.speech.encode, audio)
        note_codes_version(out.get("version"))  # the LLM must run the same package version
        return out["codes"]

    async def _llm_events(self, messages: list[dict], max_new: int | None,
                          temperature: float | None) -> AsyncIterator[dict]:
        """LLM events; if the replica dies mid-stream the request is replayed on another one and
        the already-sent prefix skipped (greedy decoding replays identically)."""
        sent, started = "", False
        versions = sorted(codes_versions()) or None
        attempt, mismatches = 0, 0
        while True:
            produced = ""
            gen = self._llm_stream.generate.remote(messages, max_new, temperature, versions)
            try:
                async for raw in gen:
                    for ev in _expand(raw):
                        if ev["type"] == "start":
                            if not started:
                                started = True
                                yield ev
                            continue
                        if ev["type"] == "text":
                            produced += ev["delta"]
                            if len(produced) <= len(sent):
                                continue
                            if not produced.startswith(sent):
                                raise RuntimeError("the resumed LLM stream diverged from what was sent")
                            ev = {"type": "text", "delta": produced[len(sent):]}
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
            except self._death:
                attempt += 1
                if attempt == 3:
                    raise
                self.metrics.failovers.inc()
                log.warning("LLM replica died mid-stream; resuming on another replica")

    async def _tts(self, text: str, voice: str | None = None, sample_rate: int | None = None,
                   container: str = "wav") -> bytes:
        if self.cfg.speakable_tts:  # "3.5 km" is said as words; the text the client sees is unchanged
            from ichigo.speakable import speakable

            text = speakable(text) or text
        return await self._retry(self.tts.synthesize, text, voice, sample_rate, container)

    async def _open_stream(self, messages: list[Message], max_new: int | None,
                           temperature: float | None) -> tuple[dict, AsyncIterator[dict]]:
        """Start the LLM stream and wait for its `start` event, so prompt errors become 4xx."""
        gen = self._llm_events(messages_to_json(messages), max_new, temperature)
        first = await gen.__anext__()
        return first, gen

    async def _turn(self, route: str, t0: float, messages: list[Message], media_type: str,
                    speak: bool, extra: dict, max_new: int | None = None,
                    temperature: float | None = None, marks: dict | None = None) -> StreamingResponse:
        start, gen = await self._open_stream(messages, max_new, temperature)
        marks = {**(marks or {}), "llm_start": time.perf_counter()}
        body = self._turn_events(route, t0, start, gen, media_type, speak, extra, marks)
        return StreamingResponse(body, media_type=media_type,
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def _reply(self, route: str, t0: float, gen: AsyncIterator[dict],
                     tts: Callable[[str], Awaitable[bytes]] | None) -> AsyncIterator[tuple]:
        """The reply as ("text", delta), ("audio", index, sentence, data) and finally
        ("end", end_event): each sentence is synthesized (`tts`) as soon as it ends, while the
        text streams on, and its audio follows strictly in sentence order, after its text."""
        from ichigo.assistant import SentenceChunker

        m = self.metrics
        chunker, pending, index = SentenceChunker(), deque(), 0
        finish, first_token, first_audio = {}, None, None

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
                    yield "audio", i, s, task.result()
                if next_ev is not None and next_ev.done():
                    try:
                        ev = next_ev.result()
                    except StopAsyncIteration:
                        next_ev = None
                        schedule(chunker.flush())
                        continue
                    next_ev = asyncio.ensure_future(gen.__anext__())
                    if ev["type"] == "text":
                        if first_token is None:
                            first_token = time.perf_counter() - t0
                            m.ttft.labels(route).observe(first_token)
                        yield "text", ev["delta"]
                        schedule(chunker.push(ev["delta"]))
                    elif ev["type"] == "end":
                        finish = {**ev, "ttft": first_token}
                        schedule(chunker.flush())  # no trailing space needed once the reply ended
            yield "end", finish or {"ttft": first_token}
        finally:
            for t in ([next_ev] if next_ev is not None else []) + [p[2] for p in pending]:
                t.cancel()
            await gen.aclose()

    def _stream_error(self, route: str, e: Exception) -> ApiError:
        """The 200 is sent already: the error goes in-band, and the replica keeps serving."""
        err = from_exception(e) or ApiError(500, f"stream failed ({type(e).__name__})", "server_error")
        if err.status >= 500:
            log.exception("stream failed on %s", route, exc_info=e)
        self.metrics.requests.labels(route, "stream_error").inc()
        self.metrics.errors.labels(route, err.type).inc()
        return err

    async def _turn_events(self, route: str, t0: float, start: dict, gen: AsyncIterator[dict],
                           media_type: str, speak: bool, extra: dict,
                           marks: dict | None = None) -> AsyncIterator[bytes]:
        """`done` carries `timings_ms`: when each step finished, from the request's arrival at
        this replica (body read, audio encoded, LLM stream open, first/last text, first/last
        audio), to see where a turn's time goes."""
        marks = dict(marks or {})
        m = self.metrics
        m.in_flight.inc()
        version = start.get("version")
        reply = self._reply(route, t0, gen, self._tts if speak else None)
        try:
            yield encode({"type": "start", "model": self.model_name, "version": version,
                          "prompt_tokens": start.get("prompt_tokens"), **extra}, media_type)
            text, chunks = [], 0
            async for ev in reply:
                now = time.perf_counter()
                if ev[0] == "text":
                    marks.setdefault("first_text", now)
                    marks["last_text"] = now
                    text.append(ev[1])
                    yield encode({"type": "text", "delta": ev[1]}, media_type)
                elif ev[0] == "audio":
                    marks.setdefault("first_audio", now)
                    marks["last_audio"] = now
                    chunks += 1
                    yield encode(audio_event(*ev[1:]), media_type)
                else:
                    finish = ev[1]
            ttft = finish.get("ttft")
            yield encode({"type": "done", "text": "".join(text), "version": version,
                          "finish_reason": finish.get("finish_reason"),
                          "completion_tokens": finish.get("completion_tokens"),
                          "audio_chunks": chunks,
                          "ttft_ms": round(1000 * ttft, 1) if ttft else None,
                          "latency_ms": round(1000 * (time.perf_counter() - t0), 1),
                          "timings_ms": {k: round(1000 * (v - t0), 1) for k, v in marks.items()}},
                         media_type)
            self._ok(route, t0)
        except Exception as e:
            yield encode({"type": "error", **self._stream_error(route, e).body()["error"]}, media_type)
        finally:
            m.in_flight.dec()
            await reply.aclose()
            await gen.aclose()  # also when `reply` never started

    # -- small routes ------------------------------------------------------------------------------
    @api.get("/", response_class=HTMLResponse)
    async def index(self) -> HTMLResponse:
        return HTMLResponse(self.page)

    @api.get("/healthz")
    async def healthz(self) -> dict:
        policy = access.current()  # the voice page asks for a key when this says so
        return {"status": "ok", "auth_required": bool(policy and policy.auth_required)}

    @api.get("/readyz")
    async def readyz(self) -> JSONResponse:
        try:
            llm, speech, tts = await asyncio.wait_for(asyncio.gather(
                self.llm.info.remote(), self.speech.info.remote(), self.tts.info.remote()), 10)
        except Exception as e:  # noqa: BLE001 - any failure means: not ready
            return JSONResponse({"ready": False, "error": f"{type(e).__name__}: {e}"[:300]}, 503)
        return JSONResponse({"ready": True, "llm": llm, "speech_tokenizer": speech, "tts": tts})

    @api.get("/metrics")
    async def metrics(self) -> Response:
        return Response(self.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @api.get("/v1/models")
    async def models(self) -> dict:
        info = await self.llm.info.remote()
        return {"object": "list", "data": [{
            "id": self.model_name, "object": "model", "created": 0, "owned_by": "ichigo",
            "version": info["version"], "engine": info["engine"],
            "max_audio_seconds": self.cfg.max_audio_seconds}]}

    # -- realtime (OpenAI Realtime protocol over a WebSocket: serving/realtime/) ----------------------
    def _realtime_init(self) -> None:
        from ichigo.assistant import voice_for
        from serving.realtime.backend import HandleBackend
        from serving.realtime.limits import RealtimeMetrics, SessionSlots

        voices = list(dict.fromkeys([voice_for(self.profile), *self.profile.tts.heldout_voices,
                                     *self.profile.tts.train_voices]))
        self.realtime_metrics = RealtimeMetrics(self.metrics.registry)
        self.realtime_slots = SessionSlots(self.cfg.realtime.max_sessions, self.realtime_metrics)
        self.realtime_backend = HandleBackend(self.model_name, voices, self._encode, self._llm_stream,
                                              self._tts, self.llm.info.remote)

    @api.websocket("/v1/realtime")
    async def realtime(self, ws: WebSocket) -> None:
        from serving.realtime.endpoint import serve_realtime

        await serve_realtime(ws, self.realtime_backend, self.cfg, self.realtime_slots, self.realtime_metrics)

    # -- speech in, text + speech out --------------------------------------------------------------
    @api.post("/v1/speech")
    async def speech(self, request: Request) -> Response:
        """Body: raw audio (Content-Type audio/*), or multipart with `audio` file and optional
        `history` (JSON messages). Query: format=ndjson|sse, speak=true|false."""
        route, t0 = "speech", time.perf_counter()
        try:
            ctype = _media(request)
            multipart = ctype == "multipart/form-data"
            if ctype not in AUDIO_TYPES and not multipart:
                raise ApiError(415, f"Content-Type {ctype or '(none)'!r} is not audio: send WAV, "
                               "WebM/Opus, OGG, MP4 or FLAC bytes (audio/*) or multipart/form-data "
                               "with an 'audio' file", "unsupported_media_type")
            limit = self.cfg.max_upload_bytes + (MULTIPART_SLACK if multipart else 0)
            body = await read_body(request, limit)
            history: list[Message] = []
            if multipart:
                audio, history = await self._form(request, body)
            else:
                audio = body
            if not audio:
                raise ApiError(400, "the audio is empty (0 bytes)", "invalid_audio_empty")
            marks = {"body": time.perf_counter()}
            codes = await self._encode(audio)
            marks["encoded"] = time.perf_counter()
            msgs = conversation(history, user_audio(codes), self.cfg.system_prompt)
            q = request.query_params
            return await self._turn(route, t0, msgs, pick_media_type(request.headers.get("accept"), q.get("format")),
                                    q.get("speak", "true").lower() != "false",
                                    {"user_codes": codes}, marks=marks)
        except Exception as e:
            return self._fail(route, e, t0)

    async def _form(self, request: Request, body: bytes) -> tuple[bytes, list[Message]]:
        request._body = body  # starlette parses the form from the body we already bounded
        try:
            form = await request.form()
        except Exception as e:  # noqa: BLE001 - a broken multipart body is the client's
            raise ApiError(400, f"malformed multipart body ({type(e).__name__})") from None
        up = form.get("audio")
        if up is None or isinstance(up, str):
            raise ApiError(400, "multipart body needs a file field named 'audio'", param="audio")
        return await up.read(), _history(form.get("history"), self.cfg.max_text_chars)

    # -- text chat ----------------------------------------------------------------------------------
    @api.post("/v1/chat")
    async def chat(self, request: Request) -> Response:
        """JSON {messages: [{role, content: str | [{type: text|sound, ...}]}], speak?, max_tokens?}."""
        route, t0 = "chat", time.perf_counter()
        try:
            body = self._require_json(request, await read_body(request, self.cfg.max_upload_bytes))
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
                raise ApiError(400, "body must be {\"messages\": [{\"role\": ..., \"content\": ...}, ...]}",
                               param="messages")
            msgs = _history(body["messages"], self.cfg.max_text_chars)
            msgs = conversation(msgs[:-1], msgs[-1], self.cfg.system_prompt)
            speak = body.get("speak", False)
            max_new = body.get("max_tokens")
            if not isinstance(speak, bool) or not (max_new is None or (isinstance(max_new, int) and max_new > 0)):
                raise ApiError(400, "speak must be a boolean and max_tokens a positive integer")
            return await self._turn(route, t0, msgs, pick_media_type(request.headers.get("accept"),
                                                                   body.get("format")), speak, {}, max_new)
        except Exception as e:
            return self._fail(route, e, t0)

    def _require_json(self, request: Request, body: bytes) -> Any:
        ctype = _media(request)
        if ctype != "application/json":
            raise ApiError(415, f"Content-Type {ctype or '(none)'!r}: send application/json",
                           "unsupported_media_type")
        return _json(body)

    # -- OpenAI-compatible ----------------------------------------------------------------------------
    @api.post("/v1/chat/completions")
    async def chat_completions(self, request: Request) -> Response:
        route, t0 = "chat_completions", time.perf_counter()
        try:
            limit = self.cfg.max_upload_bytes * 4 // 3 + MULTIPART_SLACK  # base64 audio inside JSON
            req = parse_request(self._require_json(request, await read_body(request, limit)))
            out = self._audio_out(req)
            msgs = await self._openai_messages(req)
            msgs = conversation(msgs[:-1], msgs[-1], self.cfg.system_prompt)
            max_new = req.max_completion_tokens or req.max_tokens
            start, gen = await self._open_stream(msgs, max_new, req.temperature)
            chunks = OpenAIChunks(req.model or self.model_name)
            prompt_tokens = start.get("prompt_tokens", 0)
            if req.stream:
                return StreamingResponse(self._openai_stream(route, t0, chunks, gen, prompt_tokens, out),
                                         media_type=SSE, headers={"Cache-Control": "no-store"})
            text, pcm = [], []
            reply = self._reply(route, t0, gen, out)
            try:
                async for ev in reply:
                    if ev[0] == "text":
                        text.append(ev[1])
                    elif ev[0] == "audio":
                        pcm.append(ev[3])
                    else:
                        finish = ev[1]
            finally:
                await reply.aclose()
                await gen.aclose()
            n = finish.get("completion_tokens", 0)
            audio = None
            if out is not None:
                data = b"".join(pcm)
                if req.audio_format == "wav":
                    data = pcm16_wav(data, WAV_RATE)
                audio = chunks.audio(base64.b64encode(data).decode(), "".join(text))
            self._ok(route, t0)
            return JSONResponse(chunks.completion("".join(text), finish.get("finish_reason", "stop"), {
                "prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n},
                audio))
        except Exception as e:
            return self._fail(route, e, t0)

    def _audio_out(self, req) -> Callable[[str], Awaitable[bytes]] | None:
        """The per-sentence TTS call for an OpenAI request with audio output (raw 16-bit PCM at
        the format's rate), or None for text only."""
        if not req.wants_audio:
            return None
        from ichigo.assistant import voice_for

        default = voice_for(self.profile)
        voices = list(dict.fromkeys([default, *self.profile.tts.heldout_voices, *self.profile.tts.train_voices]))
        voice = pick_voice(req.audio.voice if req.audio else None, default, voices)
        rate = PCM16_RATE if req.audio_format == "pcm16" else WAV_RATE
        return lambda sentence: self._tts(sentence, voice, rate, "raw")

    async def _openai_messages(self, req) -> list[Message]:
        out, jobs = [], []
        for i, m in enumerate(req.messages):
            if isinstance(m.content, str):
                out.append([check_text(m.content, self.cfg.max_text_chars)])
                continue
            parts: list = []
            for j, p in enumerate(m.content):
                if isinstance(p, AudioPart):
                    data = audio_bytes(p, f"messages.{i}.content.{j}", self.cfg.max_upload_bytes)
                    jobs.append((len(out), len(parts)))
                    parts.append(self._encode(data))
                else:
                    parts.append(check_text(p.text, self.cfg.max_text_chars))
            out.append(parts)
        codes = await asyncio.gather(*(out[i][j] for i, j in jobs))
        for (i, j), c in zip(jobs, codes):
            out[i][j] = Sound(c)
        msgs = []
        for m, parts in zip(req.messages, out):
            if not parts:
                raise ApiError(400, "a message has no content parts", param="messages")
            msgs.append(Message(m.role, parts))
        return msgs

    async def _openai_stream(self, route: str, t0: float, chunks: OpenAIChunks, gen: AsyncIterator[dict],
                             prompt_tokens: int, out: Callable[[str], Awaitable[bytes]] | None,
                             ) -> AsyncIterator[bytes]:
        """chat.completion.chunk events: text as `content` deltas, or with audio output (as in
        OpenAI's API) text as `audio.transcript` deltas and each sentence's speech as an
        `audio.data` delta (base64 pcm16) as soon as it is synthesized."""
        reply = self._reply(route, t0, gen, out)
        try:
            yield chunks.chunk({"role": "assistant", "content": None if out else ""})
            async for ev in reply:
                if ev[0] == "text":
                    yield chunks.chunk({"audio": {"id": chunks.audio_id, "transcript": ev[1]}}
                                       if out else {"content": ev[1]})
                elif ev[0] == "audio":
                    yield chunks.chunk({"audio": {"id": chunks.audio_id,
                                                  "data": base64.b64encode(ev[3]).decode()}})
                else:
                    n = ev[1].get("completion_tokens", 0)
                    delta = {"audio": {"id": chunks.audio_id, "expires_at": chunks.created}} if out else {}
                    yield chunks.chunk(delta, ev[1].get("finish_reason", "stop"), {
                        "prompt_tokens": prompt_tokens, "completion_tokens": n,
                        "total_tokens": prompt_tokens + n})
            yield chunks.done()
            self._ok(route, t0)
        except Exception as e:
            yield f"data: {json.dumps(self._stream_error(route, e).body())}\n\n".encode()
        finally:
            await reply.aclose()
            await gen.aclose()
