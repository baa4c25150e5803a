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
    assert httpx.get(url + "/healthz").json() == {"status": "ok"}
    ready = httpx.get(url + "/readyz", timeout=30).json()
    assert ready["ready"] and ready["llm"]["engine"] == "torch" and ready["tts"]["sample_rate"] == 16000
    models = httpx.get(url + "/v1/models").json()
    assert models["object"] == "list" and models["data"][0]["id"] == "ichigo-speech-llm"
    page = httpx.get(url + "/")
    assert page.status_code == 200 and "MediaRecorder" in page.text and "getUserMedia" in page.text


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
    assert sum(e["type"] == "text" for e in lines) > 3  # streamed, not one blob
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


def test_metrics_count_requests_and_latency(url):
    httpx.post(url + "/v1/chat", json={"messages": [{"role": "user", "content": "hi"}]}, timeout=60)
    text = httpx.get(url + "/metrics").text
    assert 'ichigo_requests_total{route="chat",status="200"}' in text
    assert "ichigo_request_latency_seconds_bucket" in text
    assert 'ichigo_time_to_first_token_seconds_count{route="chat"}' in text
