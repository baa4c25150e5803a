"""One assistant turn, in plain Python: audio bytes -> 16 kHz -> sound codes -> prompt (the one
chat template, multi-turn) -> streamed text deltas -> sentence chunks -> speech.

Serving (serving/) splits these steps across Ray Serve deployments; the registry's pyfunc, the
benchmark's in-process baseline and quick checks call `Assistant` directly. Both use the pieces
below, so a request means the same thing everywhere.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Sequence

import numpy as np

from ichigo.chat_template import Message, tokenize_chat, user_audio
from ichigo.errors import InputError

if TYPE_CHECKING:
    from ichigo.config import Profile, ServingConfig
    from ichigo.engines import Engine, GenParams
    from ichigo.model.tokenizer import IchigoTokenizer


# -- input limits -------------------------------------------------------------------------------
class TooLarge(InputError):
    """The upload is over `serving.max_upload_bytes` (HTTP 413)."""


class BadText(InputError):
    """Text that is not usable (not UTF-8, empty, too long)."""


def decode_audio(data: bytes, max_bytes: int, max_seconds: float) -> np.ndarray:
    """Uploaded audio (WAV, FLAC, OGG, WebM/Opus, MP4/AAC) -> one validated 16 kHz mono wave."""
    from ichigo.audio import load_16k

    if len(data) > max_bytes:
        raise TooLarge(f"audio upload is {len(data)} bytes; the limit is {max_bytes} bytes "
                       "(serving.max_upload_bytes)")
    return load_16k(bytes(data), max_seconds=max_seconds, too_long="reject")[0]


def check_text(text: str | bytes, max_chars: int) -> str:
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as e:
            raise BadText(f"text is not valid UTF-8 (byte {e.start}); send UTF-8") from None
    if not isinstance(text, str):
        raise BadText(f"text must be a string, got {type(text).__name__}")
    if not text.strip():
        raise BadText("text is empty")
    if len(text) > max_chars:
        raise BadText(f"text is {len(text)} characters; the limit is {max_chars} "
                      "(serving.max_text_chars)")
    return text


# -- sentence chunks for TTS --------------------------------------------------------------------
# A sentence ends at . ! ? ; : (or CJK equivalents) followed by whitespace, or at a newline. Waiting
# for the whitespace keeps "3.14" and "e.g." whole while text is still streaming in.
_BOUNDARY = re.compile(r"[.!?;:\u3002\uff01\uff1f]+[\"')\]]*\s+|\n+")
_SPEAKABLE = re.compile(r"\w")


class SentenceChunker:
    """Feed streamed text; get complete sentences as soon as they end (audio starts early)."""

    def __init__(self, max_chars: int = 200):
        self.buf = ""
        self.max_chars = max_chars

    def push(self, delta: str) -> list[str]:
        self.buf += delta
        out: list[str] = []
        while True:
            m = _BOUNDARY.search(self.buf)
            if m is None:
                break
            out.append(self.buf[:m.end()])
            self.buf = self.buf[m.end():]
        while len(self.buf) > self.max_chars:  # no punctuation: cut at the last space
            cut = self.buf.rfind(" ", 0, self.max_chars)
            cut = cut if cut > 0 else self.max_chars
            out.append(self.buf[:cut])
            self.buf = self.buf[cut:]
        return [s.strip() for s in out if _SPEAKABLE.search(s)]

    def flush(self) -> list[str]:
        rest, self.buf = self.buf.strip(), ""
        return [rest] if _SPEAKABLE.search(rest) else []


# -- events of a turn ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class AudioChunk:
    index: int
    text: str
    wav: bytes  # 16-bit PCM WAV, 16 kHz mono


@dataclass(frozen=True)
class Done:
    text: str
    version: str


Event = TextDelta | AudioChunk | Done


def voice_for(profile: "Profile") -> str:
    s = profile.serving
    return s.voice or next(iter(profile.tts.heldout_voices or profile.tts.train_voices), "en-us")


def conversation(history: Sequence[Message], new_turn: Message,
                 system_prompt: str | None) -> list[Message]:
    msgs = list(history) + [new_turn]
    if system_prompt and not any(m.role == "system" for m in msgs):
        msgs.insert(0, Message("system", system_prompt))
    for i, m in enumerate(msgs):
        if m.role == "system" and i != 0:
            raise InputError(f"message {i}: a system message may only come first")
    if msgs[-1].role != "user":
        raise InputError("the last message must be from the user")
    return msgs


def prompt_ids(messages: Sequence[Message], tokenizer: "IchigoTokenizer") -> list[int]:
    return tokenize_chat(messages, tokenizer, add_generation_prompt=True).ids


def stream_text(engine: "Engine", prompt: Sequence[int], params: "GenParams",
                cancel: threading.Event | None = None) -> Iterator[str]:
    """Text deltas of a reply, never splitting a multi-byte character."""
    from ichigo.engines import IncrementalDecoder

    dec = IncrementalDecoder(engine.tokenizer)
    for tok in engine.stream(prompt, params, cancel):
        delta = dec.push(tok)
        if delta:
            yield delta
    tail = dec.flush()
    if tail:
        yield tail


class Assistant:
    """The whole turn in one process (speech tokenizer, LLM engine, optional TTS)."""

    def __init__(self, engine: "Engine", speech_tokenizer, config: "ServingConfig", tts=None,
                 voice: str = "en-us", version: str = "local"):
        self.engine, self.speech_tokenizer, self.tts = engine, speech_tokenizer, tts
        self.config, self.voice, self.version = config, voice, version

    @classmethod
    def load(cls, package_dir: str | Path, profile: "Profile", with_tts: bool = True,
             device: str | None = None, version: str | None = None) -> "Assistant":
        from ichigo.engines import make_engine
        from ichigo.package import llm_dir

        dev = device or ("cuda" if profile.serving.deployments["llm"].num_gpus > 0 else "cpu")
        engine = make_engine(profile.serving.engine, llm_dir(package_dir), device=dev)
        tts = None
        if with_tts:
            from ichigo.tts import make_tts
            tts = make_tts(profile.tts)
        return cls(engine, load_package_tokenizer(package_dir, profile), profile.serving, tts,
                   voice_for(profile), version or Path(package_dir).name)

    # -- steps ------------------------------------------------------------------------------------
    def params(self, max_new_tokens: int | None = None, temperature: float | None = None) -> "GenParams":
        from ichigo.engines import GenParams

        limit = self.config.max_new_tokens
        n = min(max_new_tokens or limit, limit)
        return GenParams(max_new_tokens=n, temperature=self.config.temperature
                         if temperature is None else temperature)

    def encode_audio(self, data: bytes) -> list[int]:
        wave = decode_audio(data, self.config.max_upload_bytes, self.config.max_audio_seconds)
        return self.speech_tokenizer.encode(wave)

    def messages_for(self, new_turn: Message, history: Sequence[Message] = ()) -> list[Message]:
        return conversation(history, new_turn, self.config.system_prompt)

    def stream_reply(self, messages: Sequence[Message], params: "GenParams | None" = None) -> Iterator[str]:
        p = params or self.params()
        ids = prompt_ids(messages, self.engine.tokenizer)
        self.engine.check_prompt(ids, p)
        return stream_text(self.engine, ids, p)

    def speak(self, sentence: str) -> bytes:
        from ichigo.audio import wav_bytes

        if self.tts is None:
            raise InputError("this assistant was loaded without TTS")
        if self.config.speakable_tts:  # numbers, symbols and units as words (the text is unchanged)
            from ichigo.speakable import speakable

            sentence = speakable(sentence) or sentence
        return wav_bytes(self.tts.synthesize([sentence], self.voice)[0], self.tts.sample_rate)

    # -- whole turns --------------------------------------------------------------------------------
    def turn(self, messages: Sequence[Message], speak: bool = True) -> Iterator[Event]:
        """Text deltas, then each sentence's audio as soon as it ends, then Done."""
        chunker, index, text = SentenceChunker(), 0, []
        for delta in self.stream_reply(messages):
            text.append(delta)
            yield TextDelta(delta)
            for sentence in chunker.push(delta) if speak else ():
                yield AudioChunk(index, sentence, self.speak(sentence))
                index += 1
        for sentence in chunker.flush() if speak else ():
            yield AudioChunk(index, sentence, self.speak(sentence))
            index += 1
        yield Done("".join(text), self.version)

    def respond(self, messages: Sequence[Message]) -> str:
        return "".join(self.stream_reply(messages))

    def respond_text(self, text: str, history: Sequence[Message] = ()) -> str:
        msg = Message("user", check_text(text, self.config.max_text_chars))
        return self.respond(self.messages_for(msg, history))

    def respond_audio(self, wav_bytes: bytes, history: Sequence[Message] = ()) -> str:
        return self.respond(self.messages_for(user_audio(self.encode_audio(wav_bytes)), history))


def load_package_tokenizer(package_dir: str | Path, profile: "Profile"):
    """The package's speech tokenizer, with the backend the package says it was trained with."""
    from ichigo.package import read_package_info, speech_tokenizer_path
    from ichigo.speech_tokenizer import load_speech_tokenizer

    info = read_package_info(package_dir)
    cfg = profile.speech_tokenizer.model_copy(update={"backend": info.speech_tokenizer_backend})
    return load_speech_tokenizer(cfg, speech_tokenizer_path(package_dir))


__all__ = ["Assistant", "AudioChunk", "BadText", "Done", "Event", "SentenceChunker", "TextDelta",
           "TooLarge", "check_text", "conversation", "decode_audio", "load_package_tokenizer",
           "prompt_ids", "stream_text", "voice_for"]
