import dataclasses

import pytest

from ichigo.errors import InputError
from ichigo.config.sections import BenchmarkSpec
from ichigo.eval.bench_run import speech_qa_result
from ichigo.eval.judge import HTTPJudge, JudgeUnreachable, OfflineJudge
from ichigo.eval.offline_scorer import offline_score
from ichigo.eval.speech_qa import speech_qa
from ichigo.model.checkpoint import load_pretrained
from tests.eval.eval_helpers import JudgeServer


@pytest.fixture(scope="module")
def lm(tiny_llm_dir):
    return load_pretrained(tiny_llm_dir)


@pytest.fixture(scope="module")
def server():
    s = JudgeServer()
    yield s
    s.close()


def test_offline_scores_are_the_documented_mapping(lm, eval_set):
    items = eval_set["qa"][:5]
    res = speech_qa(lm, items, OfflineJudge(), max_new_tokens=8)
    assert res.n == 5 and res.judge == "offline scorer"
    assert res.score == pytest.approx(sum(offline_score(p["prediction"], p["reference"])
                                          for p in res.predictions) / 5)
    assert [p["reference"] for p in res.predictions] == [it.answer for it in items]


def test_http_judge_scores_concurrently(lm, eval_set, server):
    server.script, server.requests = ["ok"], []
    judge = HTTPJudge(server.url, "m", timeout_s=2, max_attempts=2, backoff_s=0.01)
    res = speech_qa(lm, eval_set["qa"][:6], judge, max_new_tokens=4, judge_concurrency=4)
    assert res.score == 4.0 and len(server.requests) == 6
    assert all(p["judge"] == "llm:m" and "Rating: 4" in p["judge_raw"] for p in res.predictions)


def test_garbage_verdicts_are_counted_in_the_benchmark_row(lm, eval_set, server):
    server.script, server.requests = ["garbage"], []
    judge = HTTPJudge(server.url, "m", timeout_s=2, max_attempts=2, backoff_s=0.01)
    res = speech_qa(lm, eval_set["qa"][:3], judge, max_new_tokens=4, judge_concurrency=3)
    assert len(server.requests) == 6 and res.score == 0.0
    row = speech_qa_result(BenchmarkSpec(name="s", kind="speech_qa", format="jsonl", uri="x"), res)
    assert row.extra["unparseable_verdicts"] == 3 and row.extra["judge"] == "llm:m" and row.n == 3


def test_unreachable_judge_stops_speech_qa(lm, eval_set):
    judge = HTTPJudge("http://127.0.0.1:9/v1", "m", timeout_s=0.2, max_attempts=1, api_key="")
    with pytest.raises(JudgeUnreachable, match="127.0.0.1:9/v1/chat/completions gave no usable score"):
        speech_qa(lm, eval_set["qa"][:2], judge, max_new_tokens=4)


def test_bad_items(lm, eval_set):
    with pytest.raises(InputError, match="empty"):
        speech_qa(lm, [], OfflineJudge(), 4)
    no_ref = dataclasses.replace(eval_set["qa"][0], answer=" ")
    with pytest.raises(InputError, match="without a reference answer"):
        speech_qa(lm, [no_ref], OfflineJudge(), 4)
