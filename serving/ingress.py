"""The routes: a FastAPI app and the Ray Serve ingress deployment that serves it over the
SpeechTokenizer, LLM and TTS handles. Each route parses its request (parsing.py, openai_api.py),
runs the turn (turn_engine.py) and writes the response (events.py); errors are counted and
answered by `RouteCall` (metrics.py).

Routes: `/` (voice page), `/healthz`, `/readyz`, `/metrics`, `GET /v1/models`,
`POST /v1/speech` (audio in -> streamed text + audio), `POST /v1/chat` (text, streamed),
`POST /v1/chat/completions` (OpenAI-compatible: text and `input_audio` parts in; text, or with
`modalities: ["text", "audio"]` text + speech out; stream or not), `/v1/realtime` (WebSocket).
"""


import asyncio
import time
from functools import partial
from importlib import resources

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from ray import serve

from ichigo.assistant import conversation, voice_for
from ichigo.chat_template import Message, Sound
from ichigo.config import Profile
from serving import access
from serving.errors import ApiError
from serving.events import SSE, OpenAIChunks, openai_completion, openai_stream, pick_media_type, turn_stream
from serving.metrics import CONTENT_TYPE_LATEST, Metrics, RouteCall
from serving.openai_api import audio_out, parse_request, to_messages
from serving.parsing import chat_body, json_audio_limit, read_body, require_json, speech_upload
from serving.turn_engine import TurnEngine

api = FastAPI(title="Ichigo speech assistant", docs_url="/docs", redoc_url=None)
api.add_middleware(access.AccessMiddleware)  # keys, limits, timeouts, CORS: serving/access.py


@api.exception_handler(ApiError)
async def _api_error(_: Request, e: ApiError) -> JSONResponse:
    return JSONResponse(e.body(), status_code=e.status)


def _failed(call: RouteCall, e: BaseException) -> JSONResponse:
    err = call.failed(e)
    return JSONResponse(err.body(), status_code=err.status)


@serve.ingress(api)
class Ingress:
    def __init__(self, speech, llm, tts, profile: Profile):
        # by value: calls go straight to the replica's gRPC server instead of through Ray's task
        # and object-store path (Ray Serve's throughput-optimized data plane); everything passed
        # is plain bytes/str/int/list/dict. ~8 ms less ingress CPU per spoken turn on 2 cores.
        self.speech, self.llm, self.tts = (h.options(_by_reference=False) for h in (speech, llm, tts))
        self.profile, self.cfg = profile, profile.serving
        self.model_name = profile.registry.model_name
        # keys from this replica's environment; a malformed key file fails the replica's start
        access.configure(self.cfg.access, json_audio_limit(self.cfg.max_upload_bytes))
        self.metrics = Metrics()
        self.engine = TurnEngine(self.speech, self.llm.options(stream=True), self.tts, self.metrics,
                                 speakable_tts=self.cfg.speakable_tts)
        self.voices = list(dict.fromkeys([voice_for(profile), *profile.tts.heldout_voices,
                                          *profile.tts.train_voices]))  # [0]: the default
        self.page = resources.files("serving").joinpath("static/index.html").read_text()
        self._realtime_init()

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
        from serving.realtime.backend import HandleBackend
        from serving.realtime.limits import RealtimeMetrics, SessionSlots

        self.realtime_metrics = RealtimeMetrics(self.metrics.registry)
        self.realtime_slots = SessionSlots(self.cfg.realtime.max_sessions, self.realtime_metrics)
        e = self.engine
        self.realtime_backend = HandleBackend(self.model_name, self.voices, e.sound_codes, e.llm_stream,
                                              e.synthesize, self.llm.info.remote)

    @api.websocket("/v1/realtime")
    async def realtime(self, ws: WebSocket) -> None:
        from serving.realtime.endpoint import serve_realtime

        await serve_realtime(ws, self.realtime_backend, self.cfg, self.realtime_slots, self.realtime_metrics)

    # -- our streamed turns ----------------------------------------------------------------------------
    @api.post("/v1/speech")
    async def speech(self, request: Request) -> Response:
        """Body: raw audio (Content-Type audio/*), or multipart with `audio` file and optional
        `history` (JSON messages). Query: format=ndjson|sse, speak=true|false."""
        call = RouteCall(self.metrics, "speech")
        try:
            audio, history = await speech_upload(request, self.cfg.max_upload_bytes, self.cfg.max_text_chars)
            marks = {"body": time.perf_counter()}
            part = await self.engine.user_part(audio)
            marks["encoded"] = time.perf_counter()
            msgs = conversation(history, Message("user", [part]), self.cfg.system_prompt)
            q = request.query_params
            extra = {"user_codes": list(part.codes)} if isinstance(part, Sound) else {"user_text": part}
            return await self._stream(call, msgs, pick_media_type(request.headers.get("accept"), q.get("format")),
                                      q.get("speak", "true").lower() != "false", extra, marks=marks)
        except Exception as e:
            return _failed(call, e)

    @api.post("/v1/chat")
    async def chat(self, request: Request) -> Response:
        """JSON {messages: [{role, content: str | [{type: text|sound, ...}]}], speak?, max_tokens?}."""
        call = RouteCall(self.metrics, "chat")
        try:
            body = chat_body(require_json(request, await read_body(request, self.cfg.max_upload_bytes)),
                             self.cfg.max_text_chars, self.cfg.system_prompt)
            return await self._stream(call, body.messages, pick_media_type(request.headers.get("accept"),
                                                                           body.format),
                                      body.speak, {}, body.max_tokens)
        except Exception as e:
            return _failed(call, e)

    async def _stream(self, call: RouteCall, messages: list[Message], media_type: str, speak: bool,
                      extra: dict, max_new: int | None = None,
                      marks: dict[str, float] | None = None) -> StreamingResponse:
        turn = await self.engine.open(messages, max_new, route=call.route, t0=call.t0)
        marks = {**(marks or {}), "llm_start": time.perf_counter()}
        body = turn_stream(turn, self.engine.synthesize if speak else None, media_type, self.model_name,
                           extra, call, marks)
        return StreamingResponse(body, media_type=media_type,
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    # -- OpenAI-compatible ----------------------------------------------------------------------------
    @api.post("/v1/chat/completions")
    async def chat_completions(self, request: Request) -> Response:
        call = RouteCall(self.metrics, "chat_completions")
        try:
            limit = json_audio_limit(self.cfg.max_upload_bytes)  # base64 audio inside JSON
            req = parse_request(require_json(request, await read_body(request, limit)))
            out = audio_out(req, self.voices[0], self.voices)
            tts = None if out is None else partial(self.engine.synthesize, voice=out[0], sample_rate=out[1],
                                                   container="raw")
            msgs = await to_messages(req, self.cfg.max_text_chars, self.cfg.max_upload_bytes,
                                     self.engine.user_part)
            msgs = conversation(msgs[:-1], msgs[-1], self.cfg.system_prompt)
            turn = await self.engine.open(msgs, req.max_completion_tokens or req.max_tokens, req.temperature,
                                          route=call.route, t0=call.t0)
            chunks = OpenAIChunks(req.model or self.model_name)
            if req.stream:
                return StreamingResponse(openai_stream(chunks, turn, tts, call), media_type=SSE,
                                         headers={"Cache-Control": "no-store"})
            body = await openai_completion(chunks, turn, tts, req.audio_format)
            call.ok()
            return JSONResponse(body)
        except Exception as e:
            return _failed(call, e)
