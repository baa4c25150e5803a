"""Every route of the running app (one shared Ray app, see conftest.py)."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from tests.conftest import TINY_PACKAGE_REPLY
from tests.serving.helpers import check_turn, encode_as, ndjson, speech_wave, sse

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def url(served):
    return served[0]


@pytest.fixture(scope="module")
def wave():
    return speech_wave()


def test_health_ready_models_and_page(url):
    assert httpx.get(url + "/healthz").json() == {"status": "ok", "auth_required": False}
    ready = httpx.get(url + "/readyz", timeout=30).json()
    assert ready["ready"] and ready["llm"]["engine"] == "torch" and ready["tts"]["sample_rate"] == 16000
    models = httpx.get(url + "/v1/models").json()
    assert models["object"] == "list" and models["data"][0]["id"] == "ichigo-speech-llm"
    page = httpx.get(url + "/")
    assert page.status_code == 200 and "/v1/realtime" in page.text and "getUserMedia" in page.text


@pytest.mark.parametrize("fmt,ctype", [("wav", "audio/wav"), ("webm", "audio/webm;codecs=opus"),
                                       ("ogg", "audio/ogg"), ("mp4", "audio/mp4")])
def test_speech_in_streams_text_then_audio(url, wave, fmt, ctype):
    r = httpx.post(url + "/v1/speech", content=encode_as(wave, fmt), headers={"content-type": ctype},
                   timeout=120)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-ndjson")
    events = ndjson(r.text)
    done = check_turn(events, expect_audio=True)
    assert done["text"] == TINY_PACKAGE_REPLY  # the tiny model was taught this answer
    assert 40 <= len(events[0]["user_codes"]) <= 60  # ~2 s of speech at 25 tokens/s
    assert done["audio_chunks"] == 3  # "Hello!" / "I can hear you." / "Ask me anything."
    t = done["timings_ms"]  # where the turn's time went, in order
    assert 0 <= t["body"] <= t["encoded"] <= t["llm_start"] <= t["first_text"] <= t["last_text"]
    assert t["first_audio"] <= t["last_audio"] <= done["latency_ms"]


def test_speech_sse_and_multi_turn_history(url, wave):
    wav = encode_as(wave, "wav")
    first = ndjson(httpx.post(url + "/v1/speech", content=wav, headers={"content-type": "audio/wav"},
                              params={"speak": "false"}, timeout=120).text)
    check_turn(first, expect_audio=False)
    history = [{"role": "user", "content": [{"type": "sound", "codes": first[0]["user_codes"]}]},
               {"role": "assistant", "content": first[-1]["text"]}]
    r = httpx.post(url + "/v1/speech", files={"audio": ("q.wav", wav, "audio/wav")},
                   data={"history": json.dumps(history)}, headers={"accept": "text/event-stream"},
                   timeout=120)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    assert "event: start\n" in r.text
    second = sse(r.text)
    check_turn(second, expect_audio=True)
    # the second prompt holds the whole first exchange
    assert second[0]["prompt_tokens"] > 2 * first[0]["prompt_tokens"]


def test_text_chat_streams(url):
    body = {"messages": [{"role": "user", "content": "Please tell me a short story."}]}
    with httpx.stream("POST", url + "/v1/chat", json=body, timeout=60) as r:
        assert r.status_code == 200
        lines = [json.loads(x) for x in r.iter_lines() if x.strip()]
    check_turn(lines, expect_audio=False)
    # streamed, not one blob: the taught reply has three sentences and text is coalesced per
    # sentence (or per 40 ms on a slow machine), the last riding on `end`
    assert sum(e["type"] == "text" for e in lines) >= 2
    spoken = ndjson(httpx.post(url + "/v1/chat", json={**body, "speak": True}, timeout=60).text)
    check_turn(spoken, expect_audio=True)


def test_openai_chat_completions(url, wave):
    msgs = [{"role": "user", "content": "Good morning, how are you today?"}]
    r = httpx.post(url + "/v1/chat/completions", json={"model": "ichigo", "messages": msgs}, timeout=60)
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["object"] == "chat.completion" and c["choices"][0]["message"]["role"] == "assistant"
    assert c["choices"][0]["message"]["content"] == TINY_PACKAGE_REPLY
    assert c["choices"][0]["finish_reason"] == "stop" and c["usage"]["completion_tokens"] > 0

    r = httpx.post(url + "/v1/chat/completions", json={"messages": msgs, "stream": True}, timeout=60)
    assert r.status_code == 200 and r.text.rstrip().endswith("data: [DONE]")
    chunks = sse(r.text)
    assert all(ch["object"] == "chat.completion.chunk" for ch in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    assert "".join(ch["choices"][0]["delta"].get("content", "") for ch in chunks) == TINY_PACKAGE_REPLY
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["usage"]["total_tokens"] > 0

    audio = {"role": "user", "content": [
        {"type": "text", "text": "Answer the question:"},
        {"type": "input_audio", "input_audio": {"data": base64.b64encode(encode_as(wave, "webm")).decode(),
                                                "format": "webm"}}]}
    r = httpx.post(url + "/v1/chat/completions", json={"messages": [audio], "max_tokens": 5}, timeout=60)
    assert r.status_code == 200, r.text
    c = r.json()
    assert c["usage"]["completion_tokens"] == 5 and c["choices"][0]["finish_reason"] == "length"
    assert c["usage"]["prompt_tokens"] > 40  # the audio became ~50 sound tokens


def _pcm_seconds(pcm: bytes, rate: int) -> float:
    assert len(pcm) % 2 == 0
    return len(pcm) / 2 / rate


def test_openai_audio_output(url):
    """modalities ["text", "audio"]: message.audio {id, data, transcript, expires_at} (as OpenAI)."""
    import io

    import soundfile as sf

    msgs = [{"role": "user", "content": "Good morning, how are you today?"}]
    r = httpx.post(url + "/v1/chat/completions", timeout=60,
                   json={"messages": msgs, "modalities": ["text", "audio"]})
    assert r.status_code == 200, r.text
    msg = r.json()["choices"][0]["message"]
    audio = msg["audio"]
    assert msg["content"] is None and audio["transcript"] == TINY_PACKAGE_REPLY
    assert audio["id"].startswith("audio_") and isinstance(audio["expires_at"], int)
    wave, sr = sf.read(io.BytesIO(base64.b64decode(audio["data"])))  # default format: one WAV
    assert sr == 16000 and len(wave) / sr > 1.0  # three sentences of speech

    r = httpx.post(url + "/v1/chat/completions", timeout=60, json={
        "messages": msgs, "modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "pcm16"}})
    assert r.status_code == 200, r.text
    pcm = base64.b64decode(r.json()["choices"][0]["message"]["audio"]["data"])
    assert pcm[:4] != b"RIFF" and 1.0 < _pcm_seconds(pcm, 24000) < 10  # raw 24 kHz, OpenAI's rate


def test_openai_audio_output_streams_per_sentence(url):
    body = {"messages": [{"role": "user", "content": "Good morning, how are you today?"}],
            "modalities": ["text", "audio"], "audio": {"format": "pcm16"}, "stream": True}
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=60) as r:
        assert r.status_code == 200
        raw = r.read().decode()
    assert raw.rstrip().endswith("data: [DONE]")
    chunks = sse(raw)
    deltas = [ch["choices"][0]["delta"] for ch in chunks]
    assert deltas[0]["role"] == "assistant"
    transcript, pieces = "", []
    for d in deltas[1:]:
        a = d.get("audio")
        if not a:
            continue
        assert a["id"] == deltas[1]["audio"]["id"]
        transcript += a.get("transcript", "")
        if "data" in a:
            pieces.append((len(transcript), base64.b64decode(a["data"])))
    assert transcript == TINY_PACKAGE_REPLY
    assert len(pieces) == 3  # one per sentence: "Hello!" / "I can hear you." / "Ask me anything."
    assert all(n > 0 for n, _ in pieces)  # each sentence's audio after text it speaks
    assert all(0.2 < _pcm_seconds(p, 24000) < 5 for _, p in pieces)
    last = chunks[-1]["choices"][0]
    assert last["finish_reason"] == "stop" and "expires_at" in last["delta"]["audio"]
    assert all("content" not in d or d["content"] is None for d in deltas)  # text is the transcript


def test_metrics_count_requests_and_latency(url):
    httpx.post(url + "/v1/chat", json={"messages": [{"role": "user", "content": "hi"}]}, timeout=60)
    text = httpx.get(url + "/metrics").text
    assert 'ichigo_requests_total{route="chat",status="200"}' in text
    assert "ichigo_request_latency_seconds_bucket" in text
    assert 'ichigo_time_to_first_token_seconds_count{route="chat"}' in text
