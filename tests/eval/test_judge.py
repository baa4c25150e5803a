"""The HTTP judge against a local OpenAI-compatible server that behaves well, slowly or badly."""

from __future__ import annotations

import time

import pytest

from ichigo.config import EvalConfig
from ichigo.eval.judge import HTTPJudge, JudgeError, OfflineJudge, make_judge, parse_rating
from tests.eval.eval_helpers import JudgeServer


@pytest.fixture(scope="module")
def _server():
    s = JudgeServer()
    yield s
    s.close()


@pytest.fixture
def server(_server):
    _server.script, _server.requests = ["ok"], []
    return _server


def judge(server, **kw) -> HTTPJudge:
    kw = {"timeout_s": 0.3, "max_attempts": 3, "backoff_s": 0.01, "api_key": "", **kw}
    return HTTPJudge(server.url, "judge-model", **kw)


@pytest.mark.parametrize("text,value", [
    ("Rating: 4", 4.0), ("rating:3", 3.0), ("**Rating:** 5", 5.0), ("Explanation...\nRating: 0", 0.0),
    ("5", 5.0), ("Rating: 2.5", 2.5), ("Rating: 1 ... corrected Rating: 2", 2.0),
    ("Rating: 7", None), ("Rating: -1", None), ("great answer", None), ("", None), ("I give it 4/5", None),
])
def test_parse_rating(text, value):
    assert parse_rating(text) == value


def test_valid_scores_and_request_shape(server):
    j = judge(server, api_key="sekret")
    out = j.score("what color is the sky", "blue", "it is blue", "q1")
    assert (out.score, out.attempts) == (4.0, 1)
    req = server.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sekret"
    assert req["body"]["model"] == "judge-model" and req["body"]["temperature"] == 0
    prompt = req["body"]["messages"][-1]["content"]
    assert "what color is the sky" in prompt and "Reference answer: blue" in prompt and "it is blue" in prompt
    assert "Rating: N" in prompt


def test_garbage_is_retried_then_a_clear_error(server):
    server.script = ["garbage"]
    with pytest.raises(JudgeError, match=r"no usable score for item 'q7' after 3 attempts.*no 0-5 rating"):
        judge(server).score("q", "ref", "ans", "q7")
    assert len(server.requests) == 3


def test_out_of_range_rating_is_garbage(server):
    server.script = ["out_of_range"]
    with pytest.raises(JudgeError):
        judge(server, max_attempts=2).score("q", "ref", "ans", "q1")


def test_garbage_then_valid_recovers(server):
    server.script = ["garbage", "ok"]
    assert judge(server).score("q", "r", "a").attempts == 2


def test_timeout_is_retried_with_backoff_then_error(server):
    server.script = ["sleep"]
    sleeps: list[float] = []
    j = judge(server, backoff_s=0.5, sleep=sleeps.append)
    t0 = time.time()
    with pytest.raises(JudgeError, match="timed out"):
        j.score("q", "r", "a", "slow-item")
    assert sleeps == [0.5, 1.0]  # exponential backoff between the 3 attempts
    assert time.time() - t0 < 3  # bounded: 3 x 0.3 s timeouts, no real sleeping here


def test_timeout_once_then_ok(server):
    server.script = ["sleep", "ok"]
    assert judge(server).score("q", "r", "a").score == 4.0


def test_server_errors_are_retried(server):
    server.script = ["500", "500", "ok"]
    assert judge(server).score("q", "r", "a").attempts == 3


def test_client_errors_fail_at_once(server):
    server.script = ["401"]
    with pytest.raises(JudgeError, match="HTTP 401.*judge_endpoint"):
        judge(server).score("q", "r", "a", "q1")
    assert len(server.requests) == 1


def test_unreachable_endpoint_is_an_error():
    j = HTTPJudge("http://127.0.0.1:9/v1", "m", timeout_s=0.2, max_attempts=2, backoff_s=0.01)
    with pytest.raises(JudgeError, match="after 2 attempts"):
        j.score("q", "r", "a", "x")


def test_make_judge_follows_the_config(server):
    assert isinstance(make_judge(EvalConfig()), OfflineJudge)
    j = make_judge(EvalConfig(judge_endpoint=server.url + "/chat/completions", judge_model="m"))
    assert isinstance(j, HTTPJudge) and j.url == server.url + "/chat/completions"
    assert OfflineJudge().score("q", "blue", "Blue.").score == 5.0
