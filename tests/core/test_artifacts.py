"""The step-to-step files: names spelled once, typed round trips, clear errors."""

from __future__ import annotations

import json

import pytest

from ichigo.artifacts import (
    DECISION_FILE, EVALUATION_FILE, STAGE_RESULT_FILE, Decision, Evaluation, StageResult, read_decision,
    read_evaluation, read_stage_result, write_decision, write_evaluation, write_stage_result,
)
from ichigo.errors import InputError


def test_evaluation_round_trip_and_numeric(tmp_path):
    ev = Evaluation({"wer": 0.4, "speech_qa_score": 2, "passed_smoke": True, "nan": float("nan"), "note": "x"},
                    {"wer": 1.0})
    write_evaluation(tmp_path, ev)
    assert json.loads((tmp_path / EVALUATION_FILE).read_text())["untrained"] == {"wer": 1.0}
    back = read_evaluation(tmp_path)
    assert back.candidate["wer"] == 0.4 and back.untrained == {"wer": 1.0}
    assert back.numeric() == {"wer": 0.4, "speech_qa_score": 2.0}  # no bools, NaN or strings


def test_decision_round_trip(tmp_path):
    d = Decision(False, ["wer 0.9 > 0.7"], [{"name": "wer", "passed": False}], {"stage1": [2.0, 1.5]}, None)
    write_decision(tmp_path, d)
    assert read_decision(tmp_path) == d
    assert d.to_dict()["stage_losses"] == {"stage1": [2.0, 1.5]}


def test_stage_result_keeps_train_seconds(tmp_path):
    r = StageResult("stage2", 4, [2.0, 1.0], 1.0, 1234.5, 12.5, "/o/model", world_size=2)
    write_stage_result(tmp_path, r)
    assert json.loads((tmp_path / STAGE_RESULT_FILE).read_text())["train_seconds"] == 12.5
    assert read_stage_result(tmp_path) == r


@pytest.mark.parametrize("name,content,reader,match", [
    (EVALUATION_FILE, None, read_evaluation, "does not exist"),
    (EVALUATION_FILE, "{not json", read_evaluation, "not valid JSON"),
    (EVALUATION_FILE, '{"untrained": {}}', read_evaluation, "lacks candidate"),
    (EVALUATION_FILE, '{"candidate": [1]}', read_evaluation, "candidate must be an object"),
    (DECISION_FILE, "[1, 2]", read_decision, "must hold a JSON object"),
    (DECISION_FILE, '{"passed": true}', read_decision, "lacks reasons"),
    (STAGE_RESULT_FILE, '{"stage": "stage1", "steps": 3}', read_stage_result, "lacks losses, final_loss"),
])
def test_bad_files_name_the_file_and_the_problem(tmp_path, name, content, reader, match):
    if content is not None:
        (tmp_path / name).write_text(content)
    with pytest.raises(InputError, match=match) as e:
        reader(tmp_path)
    assert str(tmp_path / name) in str(e.value)


def test_benchmark_rows_curve_and_text_eval_round_trip(tmp_path):
    from ichigo.artifacts import TEXT_EVAL_FILE, read_text_eval, write_text_eval

    rows = [{"name": "mmlu", "kind": "mmlu", "metric": "accuracy", "n": 10, "score": 0.6, "ci_low": 0.3,
             "ci_high": 0.85, "extra": {"macro_accuracy": 0.55}}]
    write_evaluation(tmp_path / "ev", Evaluation({"wer": 0.4}, None, rows, ["judge fell back"]))
    ev = read_evaluation(tmp_path / "ev")
    assert ev.benchmarks == rows and ev.notes == ["judge fell back"]
    write_evaluation(tmp_path / "old", Evaluation({"wer": 0.4}))  # files without them still read
    assert read_evaluation(tmp_path / "old").benchmarks == []
    d = Decision(True, ["ok"], benchmarks=[{"name": "mmlu", "n": 10}], judge="offline scorer",
                 retention_curve={"mmlu": {"base": 0.7, "stage3": 0.6}}, eval_notes=["n"])
    write_decision(tmp_path / "d", d)
    assert read_decision(tmp_path / "d") == d
    write_text_eval(tmp_path / "t", "stage1", {"mmlu": {"score": 0.5}})
    assert json.loads((tmp_path / "t" / TEXT_EVAL_FILE).read_text())["stage"] == "stage1"
    assert read_text_eval(tmp_path / "t") == {"mmlu": {"score": 0.5}}
    with pytest.raises(InputError, match="text evaluation .*text.json does not exist"):
        read_text_eval(tmp_path / "nope")
