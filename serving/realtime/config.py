"""A realtime session's effective configuration and `session.update` (GA session shape:
`{type: "realtime", instructions, output_modalities, audio: {input: {format, turn_detection},
output: {format, voice}}, max_output_tokens}`). Only the fields present in an update change; a bad
field is refused as a whole (the session keeps its previous configuration)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ichigo.vad import VadSettings
from serving.realtime.protocol import PCM_RATE, ProtocolError

# fields OpenAI defines that do not change anything here (accepted so clients need no special case)
_IGNORED = {"tracing", "include", "prompt", "tool_choice", "truncation", "model", "id", "object", "expires_at"}
_IGNORED_INPUT = {"noise_reduction"}
_IGNORED_OUTPUT = {"speed"}
OPENAI_VOICES = {"alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"}


@dataclass(frozen=True)
class TurnDetection:
    vad: VadSettings
    create_response: bool = True
    interrupt_response: bool = True

    def to_json(self) -> dict:
        return {"type": "server_vad", "threshold": self.vad.threshold,
                "prefix_padding_ms": self.vad.prefix_padding_ms,
                "silence_duration_ms": self.vad.silence_duration_ms, "idle_timeout_ms": None,
                "create_response": self.create_response, "interrupt_response": self.interrupt_response}


@dataclass(frozen=True)
class SessionConfig:
    model: str
    instructions: str
    voice: str  # the name the client chose (OpenAI's names mean the serving voice)
    turn_detection: TurnDetection | None
    output_modalities: tuple[str, ...] = ("audio",)
    max_output_tokens: int | None = None  # None: "inf" (the profile's serving.max_new_tokens)
    # transcribe user speech (by the model itself, with its training's transcription prompt)
    transcription: bool = False
    extras: dict = field(default_factory=dict)

    def to_json(self, session_id: str, expires_at: int) -> dict:
        pcm = {"type": "audio/pcm", "rate": PCM_RATE}
        return {"type": "realtime", "object": "realtime.session", "id": session_id, "model": self.model,
                "expires_at": expires_at, "output_modalities": list(self.output_modalities),
                "instructions": self.instructions, "tools": [], "tool_choice": "auto",
                "max_output_tokens": self.max_output_tokens or "inf", "tracing": None, "truncation": "auto",
                "prompt": None, "include": None,
                "audio": {"input": {"format": pcm,
                                    "transcription": {"model": self.model} if self.transcription else None, "noise_reduction": None,
                                    "turn_detection": self.turn_detection.to_json() if self.turn_detection else None},
                          "output": {"format": pcm, "voice": self.voice, "speed": 1.0}}}


def _err(msg: str, param: str, eid: str | None, code: str = "invalid_value") -> ProtocolError:
    return ProtocolError(code, f"session.update: {msg}", param, eid)


def _check_keys(d: dict, allowed: set[str], where: str, eid: str | None) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        raise _err(f"unknown parameter '{where}.{unknown[0]}'", f"{where}.{unknown[0]}", eid, "unknown_parameter")


def _format(fmt: Any, param: str, eid: str | None) -> None:
    if isinstance(fmt, str):  # the beta shape ("pcm16") some clients still send
        fmt = {"type": "audio/pcm", "rate": PCM_RATE} if fmt == "pcm16" else {"type": fmt}
    if not isinstance(fmt, dict):
        raise _err("an audio format is an object like {\"type\": \"audio/pcm\", \"rate\": 24000}", param, eid)
    if fmt.get("type") != "audio/pcm":
        raise _err(f"audio format {fmt.get('type')!r} is not supported: use audio/pcm (PCM16, 24 kHz mono)",
                   param + ".type", eid, "invalid_audio_format")
    if fmt.get("rate", PCM_RATE) != PCM_RATE:
        raise _err(f"audio/pcm rate {fmt.get('rate')!r} is not supported: use 24000", param + ".rate", eid,
                   "invalid_audio_format")


def _turn_detection(td: Any, cur: TurnDetection | None, defaults: VadSettings, eid: str | None
                    ) -> TurnDetection | None:
    p = "session.audio.input.turn_detection"
    if td is None:
        return None
    if not isinstance(td, dict):
        raise _err("turn_detection must be an object or null", p, eid)
    _check_keys(td, {"type", "threshold", "prefix_padding_ms", "silence_duration_ms", "create_response",
                     "interrupt_response", "idle_timeout_ms"}, p, eid)
    if td.get("type", "server_vad") != "server_vad":
        raise _err(f"turn_detection type {td.get('type')!r} is not supported: use server_vad", p + ".type", eid)
    base = cur or TurnDetection(defaults)
    vad = base.vad
    try:
        for k in ("threshold", "prefix_padding_ms", "silence_duration_ms"):
            if td.get(k) is not None:
                v = td[k]
                if isinstance(v, bool) or not isinstance(v, (int, float)):
                    raise ValueError(f"{k} must be a number")
                vad = replace(vad, **{k: float(v) if k == "threshold" else int(v)})
    except ValueError as e:
        raise _err(str(e), p, eid) from None
    flags = {}
    for k in ("create_response", "interrupt_response"):
        if k in td and td[k] is not None:
            if not isinstance(td[k], bool):
                raise _err(f"{k} must be true or false", f"{p}.{k}", eid)
            flags[k] = td[k]
    return replace(base, vad=vad, **flags)


def apply_update(cur: SessionConfig, session: Any, defaults: VadSettings, voices: set[str],
                 max_new_tokens: int, eid: str | None) -> SessionConfig:
    if not isinstance(session, dict):
        raise _err("'session' must be an object", "session", eid, "missing_required_parameter")
    _check_keys(session, {"type", "instructions", "output_modalities", "audio", "max_output_tokens", "tools",
                          "voice", "turn_detection", "input_audio_format", "output_audio_format", "modalities",
                          "temperature", *_IGNORED}, "session", eid)
    if session.get("type", "realtime") != "realtime":
        raise _err("session.type must be 'realtime' (transcription sessions are not served)", "session.type", eid)
    new = cur
    if "instructions" in session:
        if not isinstance(session["instructions"], str):
            raise _err("instructions must be a string", "session.instructions", eid)
        new = replace(new, instructions=session["instructions"])
    mods = session.get("output_modalities", session.get("modalities"))
    if mods is not None:
        if not isinstance(mods, list) or not mods or any(m not in ("text", "audio") for m in mods):
            raise _err("output_modalities must be [\"audio\"] or [\"text\"]", "session.output_modalities", eid)
        new = replace(new, output_modalities=("audio",) if "audio" in mods else ("text",))
    if "max_output_tokens" in session:
        n = session["max_output_tokens"]
        if n == "inf" or n is None:
            new = replace(new, max_output_tokens=None)
        elif isinstance(n, int) and not isinstance(n, bool) and n >= 1:
            new = replace(new, max_output_tokens=min(n, max_new_tokens))
        else:
            raise _err("max_output_tokens must be a positive integer or \"inf\"", "session.max_output_tokens", eid)
    if session.get("tools"):
        raise _err("tools are not supported by this model", "session.tools", eid, "unsupported_feature")
    audio = session.get("audio", {})
    if not isinstance(audio, dict):
        raise _err("audio must be an object", "session.audio", eid)
    _check_keys(audio, {"input", "output"}, "session.audio", eid)
    inp, out = audio.get("input", {}), audio.get("output", {})
    if not isinstance(inp, dict) or not isinstance(out, dict):
        raise _err("audio.input and audio.output must be objects", "session.audio", eid)
    _check_keys(inp, {"format", "turn_detection", "transcription", *_IGNORED_INPUT}, "session.audio.input", eid)
    if "transcription" in inp:
        if inp["transcription"] is not None and not isinstance(inp["transcription"], dict):
            raise _err("transcription must be an object (e.g. {\"model\": \"ichigo\"}) or null",
                       "session.audio.input.transcription", eid)
        new = replace(new, transcription=inp["transcription"] is not None)
    _check_keys(out, {"format", "voice", *_IGNORED_OUTPUT}, "session.audio.output", eid)
    for fmt, p in ((inp.get("format"), "session.audio.input.format"), (out.get("format"), "session.audio.output.format"),
                   (session.get("input_audio_format"), "session.input_audio_format"),
                   (session.get("output_audio_format"), "session.output_audio_format")):
        if fmt is not None:
            _format(fmt, p, eid)
    voice = out.get("voice", session.get("voice"))
    if voice is not None:
        if not isinstance(voice, str) or (voice not in voices and voice not in OPENAI_VOICES):
            raise _err(f"unknown voice {voice!r}; choose one of {', '.join(sorted(voices | OPENAI_VOICES))}",
                       "session.audio.output.voice", eid)
        new = replace(new, voice=voice)
    for td_src in (inp, session):
        if "turn_detection" in td_src:
            new = replace(new, turn_detection=_turn_detection(td_src["turn_detection"], new.turn_detection,
                                                              defaults, eid))
    return new


__all__ = ["OPENAI_VOICES", "SessionConfig", "TurnDetection", "apply_update"]
