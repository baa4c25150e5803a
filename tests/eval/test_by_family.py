"""Spoken-QA exact and WER per voice family, and eval files from before the `family` field."""


import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ichigo.errors import InputError
from ichigo.eval.by_family import family_metrics
from ichigo.records import EvalItem, read_eval_items, write_eval_items


def item(i, family, voice="en-029+m1:s160:p50"):
    return EvalItem(f"eval-{i}", "qa", "what color is the banana", "yellow", voice, [1, 2], b"", family)


def test_exact_and_wer_are_reported_per_family_with_the_worst_one():
    items = [item(0, "caribbean"), item(1, "caribbean"), item(2, "scottish"), item(3, "scottish")]
    qa = [{"id": "eval-0", "exact": True}, {"id": "eval-1", "exact": True},
          {"id": "eval-2", "exact": False}, {"id": "eval-3", "exact": True}]
    asr = [{"id": "eval-0", "reference": "what color is the banana", "prediction": "what color is the banana"},
           {"id": "eval-1", "reference": "what color is the banana", "prediction": "what color is a banana"},
           {"id": "eval-2", "reference": "what color is the banana", "prediction": "what"},
           {"id": "eval-3", "reference": "what color is the banana", "prediction": "what color is the banana"}]
    m = family_metrics(items, qa, asr)
    assert m["speech_qa_exact/caribbean"] == 1.0 and m["speech_qa_exact/scottish"] == 0.5
    assert m["n_speech_qa/caribbean"] == 2.0 and m["n_asr/scottish"] == 2.0
    assert m["wer/caribbean"] == pytest.approx(1 / 10) and m["wer/scottish"] == pytest.approx(4 / 10)
    assert m["speech_qa_exact_min_family"] == 0.5 and m["speech_qa_exact_mean_family"] == 0.75
    assert m["wer_max_family"] == pytest.approx(0.4)
    from mlflow.utils.validation import validate_param_and_metric_name
    assert all(validate_param_and_metric_name(k) for k in m)  # MLflow accepts every name


def test_items_without_a_family_get_one_from_their_voice():
    items = [item(0, "", voice="en-gb-scotland+f2:s160:p50"), item(1, "", voice="piper:joe:s100")]
    m = family_metrics(items, [{"id": "eval-0", "exact": True}, {"id": "eval-1", "exact": False}], [])
    assert m["speech_qa_exact/en-gb-scotland"] == 1.0 and m["speech_qa_exact/piper-joe"] == 0.0


def test_a_benchmark_copy_of_a_heldout_item_keeps_its_family():
    bench_copy = EvalItem("eval-0", "qa", "q", "a", "", [1])  # recorded audio: no voice
    m = family_metrics([item(0, "caribbean"), bench_copy], [{"id": "eval-0", "exact": True}], [])
    assert m["speech_qa_exact/caribbean"] == 1.0
    assert family_metrics([bench_copy], [{"id": "eval-0", "exact": True}], []) == {}


def test_predictions_for_unknown_items_are_an_error():
    with pytest.raises(InputError, match="eval-9"):
        family_metrics([item(0, "a")], [{"id": "eval-9", "exact": True}], [])


def test_eval_files_round_trip_family_and_old_files_still_read(tmp_path):
    write_eval_items([item(0, "caribbean")], tmp_path / "qa.parquet")
    assert read_eval_items(tmp_path / "qa.parquet")[0].family == "caribbean"
    old_schema = pa.schema([  # EVAL_SCHEMA before `family`
        ("id", pa.string()), ("kind", pa.string()), ("text", pa.string()), ("answer", pa.string()),
        ("voice", pa.string()), ("codes", pa.list_(pa.int16())), ("audio_wav", pa.binary())])
    pq.write_table(pa.Table.from_pylist([{"id": "e", "kind": "qa", "text": "t", "answer": "a", "voice": "en-us+m2",
                                          "codes": [1], "audio_wav": b""}], schema=old_schema), tmp_path / "old.parquet")
    old, = read_eval_items(tmp_path / "old.parquet")
    assert old.family == "" and old.voice == "en-us+m2"


def test_family_table_lists_every_family():
    from ichigo.eval.by_family import family_table
    t = family_table({"speech_qa_exact/caribbean": 0.75, "n_speech_qa/caribbean": 4.0, "wer/caribbean": 0.125,
                      "n_asr/caribbean": 9.0, "wer/scottish": 0.5, "speech_qa_exact": 0.6})
    # exact match with its 95% Wilson interval: 3 of 4 right is anything from 30% to 95%
    assert t.splitlines()[2] == "| caribbean | 4 | 75.0% [30, 95] | 9 | 0.125 |"
    assert t.splitlines()[3] == "| scottish | - | - | - | 0.500 |"
    assert family_table({"speech_qa_exact/x": 0.5}).splitlines()[2] == "| x | - | 50.0% | - | - |"
    assert family_table({"wer": 0.1}) == ""
