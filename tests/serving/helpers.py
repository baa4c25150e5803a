"""Client-side helpers for the serving tests: audio in browser formats, event stream parsing."""

from __future__ import annotations

import base64
import io
import json

import numpy as np


def speech_wave(text: str = "What is the capital of France?", voice: str = "en-us") -> np.ndarray:
    from ichigo.tts import EspeakTTS

    return EspeakTTS().synthesize([text], voice)[0]


def encode_as(wave: np.ndarray, fmt: str) -> bytes:
    """16 kHz float wave -> bytes in `fmt`: wav | webm (Opus) | ogg (Opus) | mp4 (AAC)."""
    if fmt == "wav":
        from ichigo.audio import wav_bytes
        return wav_bytes(wave)
    import av

    codec, rate = {"webm": ("libopus", 48000), "ogg": ("libopus", 48000), "mp4": ("aac", 48000)}[fmt]
    from scipy.signal import resample_poly
    x = resample_poly(wave, 3, 1).astype(np.float32)  # 16 -> 48 kHz
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=fmt) as c:
        s = c.add_stream(codec, rate=rate)
        s.layout = "mono"
        frame = av.AudioFrame.from_ndarray(x[None, :], format="flt", layout="mono")
        frame.sample_rate = rate
        for p in s.encode(frame):
            c.mux(p)
        for p in s.encode(None):
            c.mux(p)
    return buf.getvalue()


def ndjson(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def sse(text: str) -> list[dict]:
    out = []
    for block in text.split("\n\n"):
        for line in block.splitlines():
            if line.startswith("data: ") and line != "data: [DONE]":
                out.append(json.loads(line[6:]))
    return out


def check_turn(events: list[dict], expect_audio: bool) -> dict:
    """Order contract: start, text deltas with audio after the text it speaks, done last."""
    assert events[0]["type"] == "start", events[:2]
    assert events[-1]["type"] == "done", events[-3:]
    text, audio = "", []
    for e in events[1:-1]:
        assert e["type"] in ("text", "audio"), e
        if e["type"] == "text":
            text += e["delta"]
        else:
            spoken = e["text"]
            assert spoken.strip() and spoken.strip() in " ".join(text.split()), (spoken, text)
            wav = base64.b64decode(e["data"])
            assert wav[:4] == b"RIFF" and len(wav) > 1000
            audio.append(e["index"])
    done = events[-1]
    assert done["text"] == text and text.strip()
    assert audio == list(range(len(audio)))
    assert bool(audio) == expect_audio and done["audio_chunks"] == len(audio)
    return done
