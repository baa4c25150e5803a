"""The HTTP judge against a local OpenAI-compatible server that behaves well, slowly or badly."""

from __future__ import annotations

import time

import pytest

from ichigo.config.sections import JudgeConfig
from ichigo.eval.judge import (FallbackJudge, HTTPJudge, JudgeError, JudgeUnreachable, OfflineJudge,
                               VerdictCache, make_judge, parse_rating, read_api_key)
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
    assert "what color is the sky" in prompt and "[Reference answer]\nblue" in prompt and "it is blue" in prompt
    assert "Rating: N" in prompt and "0 - " in prompt and "5 - " in prompt  # the 0-5 rubric


def test_garbage_is_retried_then_counted_as_unparseable(server):
    server.script = ["garbage"]
    out = judge(server).score("q", "ref", "ans", "q7")
    assert (out.parsed, out.score, out.attempts) == (False, 0.0, 3)
    assert len(server.requests) == 3


def test_out_of_range_rating_is_garbage(server):
    server.script = ["out_of_range"]
    assert judge(server, max_attempts=2).score("q", "ref", "ans", "q1").parsed is False


def test_garbage_then_valid_recovers(server):
    server.script = ["garbage", "ok"]
    assert judge(server).score("q", "r", "a").attempts == 2


def test_timeout_is_retried_with_backoff_then_error(server):
    server.script = ["sleep"]
    sleeps: list[float] = []
    j = judge(server, backoff_s=0.5, sleep=sleeps.append)
    t0 = time.time()
    with pytest.raises(JudgeUnreachable, match="timed out"):
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
    with pytest.raises(JudgeError, match="HTTP 401.*eval.judge.base_url"):
        judge(server).score("q", "r", "a", "q1")
    assert len(server.requests) == 1


def test_unreachable_endpoint_is_an_error():
    j = HTTPJudge("http://127.0.0.1:9/v1", "m", timeout_s=0.2, max_attempts=2, backoff_s=0.01)
    with pytest.raises(JudgeUnreachable, match=r"http://127.0.0.1:9/v1/chat/completions.*after 2 attempts"):
        j.score("q", "r", "a", "x")


def test_make_judge_follows_the_config(server, tmp_path):
    assert isinstance(make_judge(JudgeConfig()), OfflineJudge)
    assert OfflineJudge().name == "offline scorer"
    j = make_judge(JudgeConfig(base_url=server.url + "/chat/completions", model="m", api_key_file=None))
    assert isinstance(j, HTTPJudge) and j.url == server.url + "/chat/completions"
    assert OfflineJudge().score("q", "blue", "Blue.").score == 5.0
    fb = make_judge(JudgeConfig(base_url=server.url, offline_fallback=True), tmp_path / "v.jsonl")
    assert isinstance(fb, FallbackJudge) and fb.primary.cache is not None


def test_api_key_from_env_then_secret_file(tmp_path, monkeypatch):
    monkeypatch.delenv("MY_JUDGE_KEY", raising=False)
    secret = tmp_path / "api_key"
    assert read_api_key("MY_JUDGE_KEY", str(secret)) is None
    secret.write_text("from-file\n")
    assert read_api_key("MY_JUDGE_KEY", str(secret)) == "from-file"
    monkeypatch.setenv("MY_JUDGE_KEY", "from-env")
    assert read_api_key("MY_JUDGE_KEY", str(secret)) == "from-env"


def test_sometimes_garbage_verdicts_are_retried_and_counted(server, tmp_path):
    """A judge that answers garbage for some items: flaky ones recover on retry, never-rated
    ones are counted (score 0); every verdict is cached by (model, question, reference, answer)."""
    server.script, server.seen = ["per_answer"], {}
    cache = VerdictCache(tmp_path / "verdicts.jsonl")
    j = judge(server, cache=cache)
    answers = ["blue", "flaky blue", "never-rated", "it is blue", "flaky sky"]
    out = [j.score("what color is the sky", "blue", a, f"q{i}") for i, a in enumerate(answers)]
    assert [o.parsed for o in out] == [True, True, False, True, True]
    assert [o.attempts for o in out] == [1, 2, 3, 1, 2]
    assert sum(not o.parsed for o in out) == 1 and out[2].score == 0.0
    assert len(server.requests) == 1 + 2 + 3 + 1 + 2
    # the same verdicts again: all from the cache, also in a new process (re-read from disk)
    again = [judge(server, cache=VerdictCache(tmp_path / "verdicts.jsonl")).score("what color is the sky", "blue", a)
             for a in answers]
    assert all(o.cached for o in again) and [o.score for o in again] == [o.score for o in out]
    assert len(server.requests) == 9
    # another judge model is another verdict
    HTTPJudge(server.url, "other-model", timeout_s=0.3, max_attempts=1, api_key="", cache=cache).score(
        "what color is the sky", "blue", "blue")
    assert len(server.requests) == 10


def test_fallback_judge_switches_to_the_offline_scorer_and_says_so():
    j = FallbackJudge(HTTPJudge("http://127.0.0.1:9/v1", "m", timeout_s=0.2, max_attempts=1, api_key=""))
    assert j.name == "llm:m"
    out = j.score("q", "blue", "Blue.", "x")
    assert out.score == 5.0 and j.fell_back and "127.0.0.1:9" in j.fell_back
    assert j.name.startswith("offline scorer (fallback: http://127.0.0.1:9/v1/chat/completions unreachable")
