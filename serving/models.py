"""The model-holding deployments: SpeechTokenizer and LLM (Ray Serve classes, decorated in app.py).

Both keep their model in a `ModelSlot`, so `load_package(package_dir, version)` swaps it while
in-flight requests finish on the model they started with.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import AsyncIterator

from ichigo.assistant import decode_audio, load_package_tokenizer, prompt_ids
from ichigo.chat_template import Message, messages_from_json
from ichigo.config import Profile
from ichigo.engines import Engine, GenParams, make_engine
from ichigo.engines.slot import ModelSlot
from ichigo.errors import InputError
from ichigo.package import llm_dir
from serving.coalesce import STREAM_INTERVAL_S, text_pieces
from serving.errors import portable
from serving.follow import cache_lock, start_follower
from serving.versions import check_codes_version
from serving.model_source import ModelSource

log = logging.getLogger("ichigo.serving")


class _Follows:
    """Resolve the model source at start-up; follow its alias if it has one."""

    revert_alias = False

    def _start(self, profile: Profile, model_uri: str, follow: bool) -> tuple[Path, str]:
        self.profile = profile
        src = ModelSource(model_uri)
        with cache_lock(profile):  # replicas on this node share the download cache
            path, version, info = src.resolve(profile)
        self.follower = None
        if follow and src.alias:
            self._follow_args = (profile, src.alias, info, path)
        else:
            self._follow_args = None
        return path, version

    def _follow(self) -> None:
        if self._follow_args is not None:
            self.follower, _ = start_follower(*self._follow_args, load=self.load_package,
                                             revert_alias=self.revert_alias)

    def __del__(self):
        if getattr(self, "follower", None) is not None:
            self.follower.stop()


def load_front_end(package_dir: str | Path, profile: Profile):
    """The package's speech tokenizer, or (serving.front_end: cascade) the Whisper ASR."""
    if profile.serving.front_end == "cascade":
        from ichigo.speech_tokenizer.whisper_asr import WhisperASR

        return WhisperASR.load(profile.speech_tokenizer.whisper_model,
                               window_seconds=profile.serving.cascade_window_seconds)
    return load_package_tokenizer(package_dir, profile)


class SpeechTokenizerDeployment(_Follows):
    """Audio bytes (any supported container) -> validated 16 kHz wave -> sound codes, or with
    `serving.front_end: cascade` -> the Whisper transcript."""

    def __init__(self, profile: Profile, model_uri: str, follow: bool = True):
        path, version = self._start(profile, model_uri, follow)
        self.slot = ModelSlot(load_front_end(path, profile), version)
        self._follow()

    def load_package(self, package_dir: str | Path, version: str) -> str:
        tok = load_front_end(package_dir, self.profile)
        if hasattr(tok, "transcribe_batch"):  # the cascade's ASR does not change with the package
            return self.slot.swap(tok, str(version))
        tok.encode(_probe_wave())  # never swap in a tokenizer that cannot encode
        prev = self.slot.swap(tok, str(version))
        log.info("SpeechTokenizer: %s -> %s", prev, version)
        return prev

    async def encode(self, audio: bytes) -> dict:
        s = self.profile.serving

        def run(tok):  # decode + encode (or transcribe) in one worker-thread hop
            wave = decode_audio(audio, s.max_upload_bytes, s.max_audio_seconds)
            if hasattr(tok, "transcribe_batch"):
                return wave, {"text": tok.transcribe_batch([wave])[0]}
            return wave, {"codes": tok.encode(wave)}

        try:
            with self.slot.lease() as (tok, version):
                wave, out = await asyncio.to_thread(run, tok)
        except InputError as e:
            raise portable(e) from None
        return {**out, "seconds": round(len(wave) / 16000, 3), "version": version}

    def info(self) -> dict:
        return {"version": self.slot.version, "kind": getattr(self.slot.value, "kind", "?")}


class LLMDeployment(_Follows):
    """Chat messages -> streamed events: start, text deltas, end (the one chat template).

    Text deltas are coalesced (serving/coalesce.py): one message per sentence or per
    STREAM_INTERVAL_S, not per token; the text left when generation ends rides on `end` as
    `delta`."""

    revert_alias = True  # LLM replicas own the decision to move a failed alias back
    stream_interval = STREAM_INTERVAL_S

    def __init__(self, profile: Profile, model_uri: str, follow: bool = True):
        path, version = self._start(profile, model_uri, follow)
        self.slot: ModelSlot[Engine] = ModelSlot(self._engine(path), version, close=lambda e: e.close())
        self._follow()

    def _engine(self, package_dir: Path) -> Engine:
        dev = "cuda" if self.profile.serving.deployments["llm"].num_gpus > 0 else "cpu"
        return make_engine(self.profile.serving.engine, llm_dir(package_dir), device=dev)

    def load_package(self, package_dir: str | Path, version: str) -> str:
        engine = self._engine(Path(package_dir))
        probe = prompt_ids([Message("user", "hello")], engine.tokenizer)
        list(engine.stream(probe, GenParams(max_new_tokens=2)))  # smoke test before the swap
        prev = self.slot.swap(engine, str(version))
        log.info("LLM: %s -> %s", prev, version)
        return prev

    def params(self, max_new_tokens: int | None, temperature: float | None) -> GenParams:
        s = self.profile.serving
        n = min(max_new_tokens or s.max_new_tokens, s.max_new_tokens)
        return GenParams(max_new_tokens=n, temperature=s.temperature if temperature is None else temperature)

    async def generate(self, messages: list[dict], max_new_tokens: int | None = None,
                       temperature: float | None = None,
                       codes_version: list[str] | None = None) -> AsyncIterator[dict]:
        try:
            msgs = messages_from_json(messages)
            params = self.params(max_new_tokens, temperature)
        except ValueError as e:
            raise portable(InputError(str(e))) from None
        with self.slot.lease() as (engine, version):
            check_codes_version(codes_version, version)  # mid-rollout: the ingress retries elsewhere
            ids = prompt_ids(msgs, engine.tokenizer)
            try:  # before the first event, so the caller can still answer with a 4xx
                engine.check_prompt(ids, params)
            except InputError as e:
                raise portable(e) from None
            yield {"type": "start", "version": version, "prompt_tokens": len(ids)}
            n, tail = 0, ""
            # one message per sentence / STREAM_INTERVAL_S rather than one per token (coalesce.py)
            async for piece, last, n in text_pieces(engine, ids, params, self.stream_interval):
                if last:
                    tail = piece
                else:
                    yield {"type": "text", "delta": piece}
            end = {"type": "end", "completion_tokens": n,
                   "finish_reason": "length" if n >= params.max_new_tokens else "stop"}
            yield {**end, "delta": tail} if tail else end

    def info(self) -> dict:
        e = self.slot.value
        return {"version": self.slot.version, "engine": e.name, "max_seq_len": e.max_seq_len}


class TTSDeployment:
    """Sentence -> speech: 16-bit PCM WAV bytes at 16 kHz in the profile's serving voice, or
    raw 16-bit little-endian PCM (`container="raw"`, at `sample_rate`) in a chosen voice."""

    def __init__(self, profile: Profile):
        from ichigo.assistant import voice_for
        from ichigo.tts import make_tts

        self.tts = make_tts(profile.tts)
        self.voice = voice_for(profile)

    async def synthesize(self, text: str, voice: str | None = None, sample_rate: int | None = None,
                         container: str = "wav") -> bytes:
        from ichigo.audio import resample, wav_bytes

        try:
            wave = (await asyncio.to_thread(self.tts.synthesize, [text], voice or self.voice))[0]
        except InputError as e:
            raise portable(e) from None
        rate = sample_rate or self.tts.sample_rate
        if rate != self.tts.sample_rate:
            wave = resample(wave, self.tts.sample_rate, rate)
        if container == "raw":
            import numpy as np

            return (np.clip(wave, -1, 1) * 32767).astype("<i2").tobytes()
        return wav_bytes(wave, rate)

    def info(self) -> dict:
        return {"voice": self.voice, "sample_rate": self.tts.sample_rate}


def _probe_wave():
    import numpy as np

    t = np.arange(8000) / 16000
    return (0.3 * np.sin(2 * np.pi * 300 * t)).astype(np.float32)
