"""Each class of bad input gets a 4xx with a JSON message saying what to fix; never a 5xx, and
the replicas keep serving."""

from __future__ import annotations


import httpx
import numpy as np
import pytest

from tests.serving.helpers import encode_as, speech_wave

pytestmark = pytest.mark.slow
WAV = {"content-type": "audio/wav"}


@pytest.fixture(scope="module")
def url(served):
    return served[0]


def _err(r: httpx.Response, status: int, *words: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    msg = r.json()["error"]["message"]
    for w in words:
        assert w.lower() in msg.lower(), msg


def test_empty_audio(url):
    _err(httpx.post(url + "/v1/speech", content=b"", headers=WAV), 400, "empty")


def test_corrupt_audio(url):
    _err(httpx.post(url + "/v1/speech", content=b"RIFF\x00\x00junk" * 50, headers=WAV), 400,
         "could not be decoded", "WebM")


def test_silent_audio(url):
    _err(httpx.post(url + "/v1/speech", content=encode_as(np.zeros(16000, np.float32), "wav"),
                    headers=WAV), 400, "silent")


def test_oversized_upload(url, served):
    limit = served[1].serving.max_upload_bytes
    _err(httpx.post(url + "/v1/speech", content=b"\x00" * (limit + 1), headers=WAV), 413, "limit")
    # no Content-Length (chunked): caught while reading
    def chunks():
        for _ in range(limit // 65536 + 2):
            yield b"\x00" * 65536
    _err(httpx.post(url + "/v1/speech", content=chunks(), headers=WAV), 413, "limit")


def test_over_long_audio(url, served):
    secs = served[1].serving.max_audio_seconds
    t = np.arange(int(16000 * (secs + 2))) / 16000
    wav = encode_as((0.2 * np.sin(2 * np.pi * 200 * t)).astype(np.float32), "wav")
    _err(httpx.post(url + "/v1/speech", content=wav, headers=WAV), 400, "limit is 6 s")


def test_wrong_content_type(url):
    _err(httpx.post(url + "/v1/speech", content=b"hello", headers={"content-type": "text/plain"}),
         415, "not audio")
    _err(httpx.post(url + "/v1/chat/completions", content=b"{}", headers={"content-type": "text/plain"}),
         415, "application/json")


def test_non_utf8_text(url):
    body = b'{"messages": [{"role": "user", "content": "caf\xe9"}]}'
    for path in ("/v1/chat", "/v1/chat/completions"):
        _err(httpx.post(url + path, content=body, headers={"content-type": "application/json"}),
             400, "UTF-8")


def test_malformed_json(url):
    for path in ("/v1/chat", "/v1/chat/completions"):
        _err(httpx.post(url + path, content=b'{"messages": [', headers={"content-type": "application/json"}),
             400, "malformed JSON")


@pytest.mark.parametrize("body,words", [
    ({}, ["messages", "required"]),
    ({"messages": []}, ["messages"]),
    ({"messages": [{"role": "robot", "content": "hi"}]}, ["role"]),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]}, ["content"]),
    ({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}, ["max_tokens"]),
    ({"messages": [{"role": "user", "content": "hi"}], "n": 3}, ["n"]),
    ({"messages": [{"role": "assistant", "content": "hi"}]}, ["last message"]),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio":
                                                  {"data": "!!notbase64!!", "format": "wav"}}]}]}, ["base64"]),
    ({"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio":
                                                  {"data": "AAAA", "format": "midi"}}]}]}, ["format"]),
    ([1, 2], ["JSON object"]),
    ({"messages": [{"role": "user", "content": "hi"}], "modalities": "audio"}, ["modalities", "list"]),
    ({"messages": [{"role": "user", "content": "hi"}], "modalities": ["text", "video"]}, ["modalities", "video"]),
    ({"messages": [{"role": "user", "content": "hi"}], "modalities": []}, ["modalities", "empty"]),
    ({"messages": [{"role": "user", "content": "hi"}], "modalities": ["text", "audio"],
      "audio": {"format": "mp3"}}, ["audio.format", "wav, pcm16"]),
    ({"messages": [{"role": "user", "content": "hi"}], "modalities": ["text", "audio"], "stream": True,
      "audio": {"format": "wav"}}, ["pcm16", "stream"]),
    ({"messages": [{"role": "user", "content": "hi"}], "modalities": ["text", "audio"],
      "audio": {"voice": "no-such-voice"}}, ["audio.voice", "not available"]),
    ({"messages": [{"role": "user", "content": "hi"}], "modalities": ["text", "audio"],
      "audio": {"format": "wav", "bitrate": 64}}, ["audio.bitrate"]),
    ({"messages": [{"role": "user", "content": "hi"}], "audio": {"format": "wav"}}, ["modalities"]),
    ({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "audio": {"id": "audio_1"}},
                   {"role": "user", "content": "and?"}]}, ["audio id", "transcript"]),
])
def test_bad_openai_schema(url, body, words):
    _err(httpx.post(url + "/v1/chat/completions", json=body), 400, *words)


def test_bad_chat_body_and_history(url):
    _err(httpx.post(url + "/v1/chat", json={"messages": "hi"}), 400, "messages")
    _err(httpx.post(url + "/v1/chat", json={"messages": [{"role": "user", "content": [
        {"type": "sound", "codes": [3, 513]}]}]}), 400, "0..512")  # was a 500 from the LLM
    wav = encode_as(speech_wave("Hello."), "wav")
    _err(httpx.post(url + "/v1/speech", files={"audio": ("a.wav", wav, "audio/wav")},
                    data={"history": "{not json"}), 400, "malformed JSON")
    _err(httpx.post(url + "/v1/speech", files={"nope": ("a.wav", wav, "audio/wav")}), 400, "'audio'")


def test_prompt_over_context(url):
    long = "q7z " * 990  # under max_text_chars, but well over the 1024-token context
    _err(httpx.post(url + "/v1/chat", json={"messages": [{"role": "user", "content": long}]}), 400,
         "context")
    _err(httpx.post(url + "/v1/chat", json={"messages": [{"role": "user", "content": "x" * 4001}]}), 400,
         "max_text_chars")


def test_still_healthy_and_no_5xx(url):
    assert httpx.get(url + "/readyz", timeout=30).status_code == 200
    r = httpx.post(url + "/v1/chat", json={"messages": [{"role": "user", "content": "hi"}]}, timeout=60)
    assert r.status_code == 200
    metrics = httpx.get(url + "/metrics").text
    assert 'status="5' not in metrics, [l for l in metrics.splitlines() if 'status="5' in l]
