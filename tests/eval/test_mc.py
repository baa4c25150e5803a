import json
import random

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from ichigo import world
from ichigo.errors import InputError
from ichigo.config.sections import BenchmarkSpec
from ichigo.eval.benchmarks import load_benchmark
from ichigo.eval.mc import MCItem, format_item, k_shot_prompt
from tests.eval.eval_helpers import embedded_mc_set

def load_mc_source(uri: str, num_shots: int, cache_dir):
    """(shots, items) of a generic multiple-choice benchmark (the `mc` kind's loader)."""
    fmt = "parquet" if uri.endswith(".parquet") else "csv" if uri.endswith(".csv") else "jsonl"
    b = load_benchmark(BenchmarkSpec(name="mc", kind="mc", format=fmt, uri=uri, shots=num_shots), cache_dir)
    return b.data.shots, b.data.items


ROWS = [
    {"question": "2+2?", "choices": ["3", "4", "5", "6"], "answer": 1, "split": "dev"},
    {"question": "Capital of Peru?", "choices": ["Lima", "Quito", "Oslo", "Rome"], "answer": "A"},
    {"question": "Opposite of hot?", "choices": ["warm", "cold"], "answer": "cold", "subject": "words"},
]


def test_layout_is_exactly_worlds_format_mc():
    facts = world.all_facts()
    rng = random.Random(0)
    for f in facts[:40]:
        opts, idx = world.answer_choices(f, facts, rng)
        item = MCItem("x", f.question(), tuple(opts), idx)
        assert format_item(item, True) == world.format_mc(f, opts, idx)
        assert format_item(item, False) == world.format_mc(f, opts, None)


def test_k_shot_prompt_ends_open_and_adds_mmlu_header_only_with_a_subject():
    shots, items = embedded_mc_set(3, 2)
    p = k_shot_prompt(items[0], shots)
    assert p.count("Question:") == 3 and p.endswith("Answer:") and p.count("\n\n") == 2
    assert not p.startswith("The following")
    sub = MCItem("s", "Q?", ("a", "b"), 0, subject="high_school_physics")
    assert k_shot_prompt(sub, []).startswith(
        "The following are multiple choice questions (with answers) about high school physics.\n\n")


def test_embedded_set_is_deterministic_and_disjoint():
    a, b = embedded_mc_set(50, 3, seed=1), embedded_mc_set(50, 3, seed=1)
    assert a == b and len(a[0]) == 3 and len(a[1]) == 50
    ids = [i.id for i in a[0] + a[1]]
    assert len(set(ids)) == len(ids)
    assert all(len(i.choices) == 4 and i.choices[i.answer] for i in a[1])


def test_jsonl_and_parquet_sources(tmp_path):
    (tmp_path / "mc.jsonl").write_text("\n".join(json.dumps(r) for r in ROWS) + "\n\n")
    shots, items = load_mc_source(str(tmp_path / "mc.jsonl"), 5, tmp_path / "cache")
    assert [s.question for s in shots] == ["2+2?"]
    assert [(i.answer, i.subject) for i in items] == [(0, ""), (1, "words")]
    pq.write_table(pa.Table.from_pylist([{"question": r["question"], "choices": r["choices"],
                                          "answer": str(r["answer"])} for r in ROWS[:2]]),
                   tmp_path / "mc.parquet")
    shots, items = load_mc_source(str(tmp_path / "mc.parquet"), 1, tmp_path / "cache")
    assert len(shots) == 0 and len(items) == 2  # no split column: every row is a test item


def test_s3_source(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("MLFLOW_S3_ENDPOINT_URL", raising=False)
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="evals")
        s3.put_object(Bucket="evals", Key="mmlu/test.jsonl", Body="\n".join(json.dumps(r) for r in ROWS))
        shots, items = load_mc_source("s3://evals/mmlu/test.jsonl", 5, tmp_path / "cache")
        assert len(shots) == 1 and len(items) == 2
        with pytest.raises(InputError, match="benchmark 'mc': .*nothing found at s3://evals/missing.jsonl"):
            load_mc_source("s3://evals/missing.jsonl", 5, tmp_path / "cache")


@pytest.mark.parametrize("row,msg", [
    ({"question": "q", "choices": ["a", "b"]}, r"row 1: missing \['answer'\]"),
    ({"question": "q", "choices": ["a"], "answer": 0}, "2-4 strings"),
    ({"question": "q", "choices": ["a", "b", "c", "d", "e"], "answer": 0}, "2-4 strings"),
    ({"question": "q", "choices": ["a", "b"], "answer": 5}, "outside the 2 choices"),
    ({"question": "q", "choices": ["a", "b"], "answer": "Z"}, "neither an index"),
    ({"question": " ", "choices": ["a", "b"], "answer": 0}, "empty question"),
])
def test_bad_rows_name_the_row_and_field(tmp_path, row, msg):
    (tmp_path / "bad.jsonl").write_text(json.dumps(row))
    with pytest.raises(InputError, match=msg):
        load_mc_source(str(tmp_path / "bad.jsonl"), 0, tmp_path)


def test_missing_empty_and_unsupported_sources(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_mc_source(str(tmp_path / "nope.jsonl"), 0, tmp_path)
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(InputError, match="split 'test' in .*empty.jsonl is empty"):
        load_mc_source(str(tmp_path / "empty.jsonl"), 0, tmp_path)
    (tmp_path / "one.jsonl").write_text(json.dumps(ROWS[0]))
    with pytest.raises(InputError, match="holds only dev rows"):
        load_mc_source(str(tmp_path / "one.jsonl"), 5, tmp_path)
    (tmp_path / "x.csv").write_text("question,choices\n")
    with pytest.raises(InputError, match="is empty"):
        load_mc_source(str(tmp_path / "x.csv"), 0, tmp_path)
    (tmp_path / "broken.jsonl").write_text("{not json")
    with pytest.raises(InputError, match="broken.jsonl row 1: not JSON"):
        load_mc_source(str(tmp_path / "broken.jsonl"), 0, tmp_path)
