import json

import httpx

from ichigo.data.refusals import get_refusals, teacher_refusals
from ichigo.refusal import OFFLINE_REFUSALS, is_refusal


def test_is_refusal():
    assert all(is_refusal(t) for t in OFFLINE_REFUSALS)
    assert not any(is_refusal(t) for t in ("paris", "yellow", "the opposite of hot is cold", "woof"))


def test_teacher_success_and_retry(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    calls = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(json.loads(req.content))
        if len(calls) == 1:
            return httpx.Response(503)
        text = "1. Sorry, I could not hear that.\n2. Please say it again, the audio was unclear.\n\n- Hmm?"
        return httpx.Response(200, json={"choices": [{"message": {"content": text}}]})

    out = teacher_refusals("http://teacher/v1", transport=httpx.MockTransport(handler))
    assert out == ["Sorry, I could not hear that.", "Please say it again, the audio was unclear."]
    assert len(calls) == 2 and calls[0]["messages"][0]["role"] == "user"


def test_teacher_failure_falls_back_with_reason(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    rs = get_refusals("http://teacher/v1", transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    assert rs.texts == list(OFFLINE_REFUSALS) and rs.source.startswith("offline (teacher failed")


def test_teacher_answers_are_cached_and_identical_on_rerun(tmp_path, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    calls = []

    def handler(req):
        calls.append(1)
        return httpx.Response(200, json={"choices": [{"message": {"content": f"Sorry, could you repeat that? ({len(calls)})"}}]})

    first = get_refusals("http://teacher/v1", transport=httpx.MockTransport(handler), cache_dir=tmp_path)
    again = get_refusals("http://teacher/v1", transport=httpx.MockTransport(handler), cache_dir=tmp_path)
    assert first == again and first.source == "teacher" and len(calls) == 1
    other = get_refusals("http://other/v1", transport=httpx.MockTransport(handler), cache_dir=tmp_path)
    assert other.texts != first.texts and len(calls) == 2
