"""evaluate_model end to end: a healthy model passes the gate, a label-shuffled copy of it is
rejected with the specific failing checks; bad inputs fail early; interrupted runs resume."""

from __future__ import annotations

import json
import shutil

import pytest

from ichigo.artifacts import MODEL_METRICS_FILE
from ichigo.config import load_profile
from ichigo.errors import InputError
from ichigo.eval import generation, text_retention as tr_mod
from ichigo.eval.gate import decide
from ichigo.eval.judge import JudgeError
from ichigo.eval.report import write_report
from ichigo.eval.run import METRIC_NAMES, evaluate_model
from ichigo.records import EVAL_ASR_FILE, EvalItem, read_eval_items, write_eval_items

TEST_EVAL = {"latency_runs": 3, "latency_warmup": 1, "benchmarks": [
    {"name": "world_mmlu", "kind": "mmlu", "format": "csv", "uri": "world://mmlu", "shots": 0, "limit": 16},
    {"name": "world_speech_qa", "kind": "speech_qa", "format": "parquet", "uri": "world://speech_qa",
     "max_new_tokens": 24}]}


def profile(**eval_overrides):
    return load_profile("local", overrides={"eval": {**TEST_EVAL, **eval_overrides}})


@pytest.fixture(scope="module")
def healthy_metrics(healthy_llm_dir, eval_set, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval_healthy")
    res = evaluate_model(profile(), healthy_llm_dir, eval_set["eval_dir"], eval_set["tokenizer"], out,
                         base_llm_dir=healthy_llm_dir)
    return res


@pytest.mark.slow
def test_healthy_model_metrics_and_files(healthy_metrics):
    m = healthy_metrics.metrics
    assert set(METRIC_NAMES) <= set(m)
    assert m["text_retention_acc"] == m["text_retention_base_acc"] and m["text_retention_drop"] == 0
    assert m["speech_qa_exact"] >= 0.75 and m["speech_qa_score"] >= 4
    assert m["wer"] <= 0.2 and m["cer"] <= 0.2
    assert m["inaudible_refusal_random"] >= 0.9 and m["inaudible_refusal_noise"] >= 0.9
    assert m["false_refusal"] <= 0.1
    assert 0 < m["first_token_p50_ms"] <= m["first_token_p95_ms"] and m["peak_memory_mb"] > 0
    assert (m["n_speech_qa"], m["n_asr"], m["n_inaudible_noise"], m["n_text_retention"]) == (16, 16, 8, 16)
    assert json.loads(healthy_metrics.metrics_path.read_text()) == m
    preds = [json.loads(line) for line in healthy_metrics.predictions_path.read_text().splitlines()]
    kinds = {p["metric"] for p in preds}
    assert kinds == {"bench/world_mmlu", "bench/world_mmlu/base", "bench/world_speech_qa", "asr_questions",
                     "inaudible_random", "inaudible_noise", "latency", "typed_qa"}
    # no ASR test split in this eval dir: WER is the held-out questions' transcriptions
    assert (m["wer"], m["cer"]) == (m["wer_questions"], m["cer_questions"])
    assert 0 <= m["typed_qa_exact"] <= 1 and m["n_typed_qa"] % 5 == 0
    rows = {b["name"]: b for b in healthy_metrics.benchmarks}
    assert rows["world_mmlu"]["n"] == 16 and rows["world_speech_qa"]["n"] == 16
    assert rows["world_speech_qa"]["extra"]["judge"] == "offline scorer"
    assert rows["world_mmlu"]["ci_low"] <= rows["world_mmlu"]["score"] <= rows["world_mmlu"]["ci_high"]
    assert m["bench/world_speech_qa/score"] == m["speech_qa_score"]
    # per voice family (the fixture's clips all come from one "synthetic" voice)
    fams = {k.split("/", 1)[1] for k in m if k.startswith("speech_qa_exact/")}
    assert fams == {"synthetic"} and m["wer/synthetic"] == m["wer"]
    assert sum(m[f"n_speech_qa/{f}"] for f in fams) == m["n_speech_qa"]
    assert m["speech_qa_exact_min_family"] <= m["speech_qa_exact_mean_family"]
    qa = [p for p in preds if p["metric"] == "bench/world_speech_qa"]
    assert len(qa) == 16 and all({"prediction", "reference", "score", "judge"} <= set(p) for p in qa)
    assert decide(m, profile().eval).passed


@pytest.mark.slow
def test_degraded_candidate_is_rejected_for_the_right_reasons(healthy_metrics, degraded_llm_dir,
                                                              healthy_llm_dir, tiny_llm_dir, eval_set,
                                                              tmp_path):
    bad = evaluate_model(profile(), degraded_llm_dir, eval_set["eval_dir"], eval_set["tokenizer"],
                         tmp_path / "bad", base_llm_dir=healthy_llm_dir).metrics
    good = healthy_metrics.metrics
    decision = decide(bad, profile().eval, base_metrics={"text_retention_acc": good["text_retention_base_acc"]},
                      champion_metrics=good)
    assert not decision.passed
    expected = {"speech_qa_score", "wer", "inaudible_refusal_random", "inaudible_refusal_noise",
                "vs_champion:speech_qa_score", "vs_champion:wer", "vs_champion:inaudible_refusal_random",
                "vs_champion:inaudible_refusal_noise"}
    # the letter logits of a shuffled output layer are random: its MC accuracy may or may not drop
    # far enough, so those two checks are not part of the expectation either way
    retention = {"text_retention_drop", "vs_champion:text_retention_acc"}
    assert set(decision.failed) - retention == expected
    assert {"false_refusal", "first_token_p95_ms"}.isdisjoint(decision.failed)
    assert any(r.startswith("FAIL wer: ") for r in decision.reasons)

    untrained = evaluate_model(profile(), tiny_llm_dir, eval_set["eval_dir"], eval_set["tokenizer"],
                               tmp_path / "untrained").metrics
    assert "text_retention_drop" not in untrained  # no base given
    paths = write_report(tmp_path / "report", bad, decision, {"stage3": [2.0, 1.5, 1.2]},
                         {"text_retention_acc": good["text_retention_base_acc"]}, good, untrained)
    page = paths.html.read_text()
    assert "REJECTED" in page and "vs_champion:wer" in page


@pytest.mark.slow
def test_interrupted_evaluation_resumes_from_its_cache(healthy_llm_dir, eval_set, tmp_path, monkeypatch):
    out = tmp_path / "out"
    first = evaluate_model(profile(), healthy_llm_dir, eval_set["eval_dir"], eval_set["tokenizer"], out)

    def boom(*a, **k):
        raise AssertionError("recomputed an item that was cached")

    monkeypatch.setattr(generation, "generate_batch", boom)
    monkeypatch.setattr(tr_mod, "next_token_logprobs", boom)
    again = evaluate_model(profile(), healthy_llm_dir, eval_set["eval_dir"], eval_set["tokenizer"], out)
    timing = {"first_token_p50_ms", "first_token_p95_ms", "first_token_mean_ms", "peak_memory_mb", "eval_seconds"}
    assert {k: v for k, v in again.metrics.items() if k not in timing} == \
        {k: v for k, v in first.metrics.items() if k not in timing}
    # other settings (longer replies) must not reuse those answers
    with pytest.raises(AssertionError, match="recomputed"):
        evaluate_model(profile(max_new_tokens=30), healthy_llm_dir, eval_set["eval_dir"],
                       eval_set["tokenizer"], out)


@pytest.mark.slow
def test_wer_comes_from_the_asr_test_split_when_the_data_step_wrote_one(healthy_llm_dir, eval_set, tmp_path):
    """eval/asr.parquet (the world's ASR test split) gives wer/cer and the per-family WER; the
    held-out questions' transcriptions stay as wer_questions. The split's references here are
    other sentences than the ones spoken, so its WER must come out high where the questions' is low."""
    d = tmp_path / "eval"
    shutil.copytree(eval_set["eval_dir"], d)
    qa = read_eval_items(d / "qa.parquet")[:6]
    write_eval_items([EvalItem(f"s{i}", "asr", "a tiger in the snow says nothing", "", "held-out-voice",
                               it.codes, it.audio_wav, "moon") for i, it in enumerate(qa)], d / EVAL_ASR_FILE)
    m = evaluate_model(profile(), healthy_llm_dir, d, eval_set["tokenizer"], tmp_path / "o").metrics
    assert m["n_asr"] == 6 and m["n_asr_questions"] == 16
    assert m["wer_questions"] <= 0.2 and m["wer"] >= 0.7
    assert m["wer/moon"] == m["wer"] and m["wer_max_family"] == m["wer"]
    assert "wer/synthetic" not in m  # the questions' family has spoken QA only


def test_missing_eval_files_fail_early(tiny_llm_dir, eval_set, tmp_path):
    empty = tmp_path / "no_eval"
    empty.mkdir()
    with pytest.raises(InputError, match="qa.parquet does not exist: run the data step"):
        evaluate_model(profile(), tiny_llm_dir, empty, eval_set["tokenizer"], tmp_path / "o")


def test_empty_noise_set_fails(tiny_llm_dir, eval_set, tmp_path):
    d = tmp_path / "eval"
    shutil.copytree(eval_set["eval_dir"], d)
    write_eval_items([], d / "noise.parquet")
    assert read_eval_items(d / "noise.parquet") == []
    with pytest.raises(InputError, match="holds no items of kind 'noise'"):
        evaluate_model(profile(), tiny_llm_dir, d, eval_set["tokenizer"], tmp_path / "o")


def test_bad_model_and_tokenizer_paths(tiny_llm_dir, eval_set, tmp_path):
    with pytest.raises(InputError, match="candidate model at .* cannot be loaded"):
        evaluate_model(profile(), tmp_path / "nope", eval_set["eval_dir"], eval_set["tokenizer"], tmp_path / "o")
    with pytest.raises(InputError, match="no sound tokens"):
        evaluate_model(profile(), tiny_llm_dir.parent / "base", eval_set["eval_dir"], eval_set["tokenizer"],
                       tmp_path / "o")
    with pytest.raises(InputError, match="speech tokenizer checkpoint .* does not exist"):
        evaluate_model(profile(), tiny_llm_dir, eval_set["eval_dir"], tmp_path / "x.npz", tmp_path / "o")


def test_unreachable_judge_stops_the_evaluation(tiny_llm_dir, eval_set, tmp_path):
    p = profile(judge={"base_url": "http://127.0.0.1:9/v1", "timeout_s": 0.2, "max_attempts": 1})
    with pytest.raises(JudgeError, match="judge http://127.0.0.1:9/v1/chat/completions gave no usable score"):
        evaluate_model(p, tiny_llm_dir, eval_set["eval_dir"], eval_set["tokenizer"], tmp_path / "o",
                       max_items=2)
    assert not (tmp_path / "o" / MODEL_METRICS_FILE).exists()  # never a silent pass


def test_unreachable_judge_with_offline_fallback_says_so(tiny_llm_dir, eval_set, tmp_path):
    p = profile(judge={"base_url": "http://127.0.0.1:9/v1", "timeout_s": 0.2, "max_attempts": 1,
                       "offline_fallback": True}, latency_runs=1, latency_warmup=0)
    res = evaluate_model(p, tiny_llm_dir, eval_set["eval_dir"], eval_set["tokenizer"], tmp_path / "o",
                         max_items=2)
    assert any("judge unreachable, offline scorer used" in n and "127.0.0.1:9" in n for n in res.notes)
    row = next(b for b in res.benchmarks if b["name"] == "world_speech_qa")
    assert row["extra"]["judge"].startswith("offline scorer (fallback: http://127.0.0.1:9")
    saved = json.loads((tmp_path / "o" / "benchmarks.json").read_text())
    assert saved["judge"].startswith("offline scorer (fallback") and saved["notes"] == res.notes
    assert res.metrics["n_speech_qa"] == 2 and res.metrics["bench/world_mmlu/n"] == 16


def test_declared_speech_qa_benchmark_with_a_flaky_judge(tiny_llm_dir, eval_set, tmp_path):
    """A speech_qa benchmark from files (audio paths, AudioBench-style instruction) judged by a
    local OpenAI-compatible server that answers garbage after its first verdict: the first item
    is rated, the second retried then counted as unparseable; the row, metrics and report agree."""
    from tests.eval.eval_helpers import JudgeServer

    d = tmp_path / "sqa"
    d.mkdir()
    rows = []
    for it in eval_set["qa"][:2]:
        (d / f"{it.id}.wav").write_bytes(it.audio_wav)
        rows.append({"id": it.id, "audio": f"{it.id}.wav", "instruction": "Answer briefly.", "answer": it.answer})
    (d / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    server = JudgeServer()
    server.script = ["ok", "garbage"]
    try:
        p = profile(latency_runs=1, latency_warmup=0,
                    judge={"base_url": server.url, "model": "judge-70b", "max_attempts": 2, "concurrency": 1,
                           "api_key_file": None},
                    benchmarks=[{"name": "mmlu4", "kind": "mmlu", "format": "csv", "uri": "world://mmlu",
                                 "shots": 0, "limit": 4},
                                {"name": "hermes", "kind": "speech_qa", "format": "jsonl", "uri": str(d),
                                 "max_new_tokens": 6}])
        res = evaluate_model(p, tiny_llm_dir, eval_set["eval_dir"], eval_set["tokenizer"], tmp_path / "o",
                             max_items=2)
    finally:
        server.close()
    assert len(server.requests) == 3  # 1 rated + 2 garbage attempts
    assert "Answer briefly." in server.requests[0]["body"]["messages"][-1]["content"]
    m = res.metrics
    assert m["speech_qa_score"] == 2.0 and m["judge_unparseable"] == 1 and m["n_speech_qa"] == 2
    row = next(b for b in res.benchmarks if b["name"] == "hermes")
    assert row["extra"]["judge"] == "llm:judge-70b" and row["extra"]["unparseable_verdicts"] == 1
    assert m["bench/mmlu4/n"] == 4 and "text_retention_acc" in m


def test_text_curve_point_scores_only_text_benchmarks(tiny_llm_dir, tmp_path):
    from ichigo.eval.run import text_curve_point
    p = profile()
    point = text_curve_point(p, tiny_llm_dir, tmp_path / "o", "stage1")
    assert set(point) == {"world_mmlu"} and point["world_mmlu"]["n"] == 16
    assert 0 <= point["world_mmlu"]["ci_low"] <= point["world_mmlu"]["score"] <= point["world_mmlu"]["ci_high"] <= 1
    assert text_curve_point(profile(benchmarks=[]), tiny_llm_dir, tmp_path / "o2", "stage1") == {}
