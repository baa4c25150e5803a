"""Held out means held out: an eval item that repeats a training question fails the eval step,
naming the benchmark, the item and the question; "report" only notes it."""

from __future__ import annotations

import csv

import pytest

from ichigo.chat_template import Message, user_audio
from ichigo.config.sections import BenchmarkSpec, EvalConfig
from ichigo.errors import InputError
from ichigo.eval.benchmarks import load_benchmark
from ichigo.eval.heldout import normalize_question, training_questions
from ichigo.eval.run import check_held_out
from ichigo.records import StageRow, write_stage_shard


def stages(root):
    write_stage_shard([StageRow("s1-0", "sound_only", codes=[1, 2, 3])], root / "stage1" / "part-00000.parquet")
    write_stage_shard([
        StageRow("s2-t", "text", messages=[Message("user", "What is the capital of France?"),
                                          Message("assistant", "Paris")]),
        StageRow("s2-asr", "transcription", messages=[user_audio([4, 5], "Transcribe this."),
                                                     Message("assistant", "how many legs has a spider")]),
    ], root / "stage2" / "part-00000.parquet")
    return root


def bench(tmp_path, questions, **opts):
    d = tmp_path / "mmlu" / "test"
    d.mkdir(parents=True, exist_ok=True)
    with (d / "geo_test.csv").open("w", newline="") as f:
        csv.writer(f).writerows([[q, "a", "b", "c", "d", "A"] for q in questions])
    return load_benchmark(BenchmarkSpec(name="mmlu", kind="mmlu", format="csv", uri=str(tmp_path / "mmlu"),
                                        shots=0, options=opts), tmp_path / "c")


def test_training_questions_are_user_turns_and_transcripts(tmp_path):
    q = training_questions(stages(tmp_path / "stages"))
    assert "what is the capital of france" in q and "how many legs has a spider" in q
    assert "transcribe this" in q and "paris" not in q  # answers are not questions
    assert normalize_question("  What is the CAPITAL of France ?") == "what is the capital of france"


def test_overlap_fails_the_eval_naming_it(tmp_path):
    train = stages(tmp_path / "stages")
    b = bench(tmp_path, ["what is the capital of france", "Which river runs through Rome?",
                         "How many legs has a spider?"])
    with pytest.raises(InputError, match=r"held-out check failed.*benchmark 'mmlu': 2 of 3 items share "
                                         r"their question.*geo-test-1: 'what is the capital of france'"):
        check_held_out(EvalConfig(benchmarks=[b.spec]), [b], train)
    notes = check_held_out(EvalConfig(benchmarks=[b.spec], held_out_check="report"), [b], train)
    assert len(notes) == 1 and "2 of 3" in notes[0] and "report only" in notes[0]
    # a benchmark may say so itself
    b2 = bench(tmp_path, ["what is the capital of france"], held_out_check="report")
    assert check_held_out(EvalConfig(benchmarks=[b2.spec]), [b2], train)


def test_clean_benchmark_passes_and_missing_stages_are_an_error(tmp_path):
    train = stages(tmp_path / "stages")
    b = bench(tmp_path, ["Which river runs through Rome?"])
    assert check_held_out(EvalConfig(benchmarks=[b.spec]), [b], train) == []
    with pytest.raises(InputError, match="no stage datasets"):
        check_held_out(EvalConfig(benchmarks=[b.spec]), [b], tmp_path / "empty")
