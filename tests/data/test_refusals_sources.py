import json

import boto3
import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from ichigo.audio import wav_bytes
from ichigo.data.refusals import get_refusals, teacher_refusals
from ichigo.refusal import OFFLINE_REFUSALS, is_refusal
from ichigo.data.sources import read_source
from ichigo.errors import InputError


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


def test_sources_local_jsonl_parquet_and_hf(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"question": "what is up", "answer": "the sky"}\n\n'
                                      '{"text": "hello there"}\n')
    pq.write_table(pa.Table.from_pylist([{"audio": {"bytes": wav_bytes([0.1, -0.1] * 8000), "path": None},
                                          "transcript": "spoken"}]), tmp_path / "b.parquet")
    rows = read_source(str(tmp_path))
    assert rows[0].text == "what is up" and rows[0].answer == "the sky"
    assert rows[1].answer is None and rows[2].audio[:4] == b"RIFF" and rows[2].text == "spoken"
    import datasets
    datasets.Dataset.from_dict({"instruction": ["q1", "q2"], "output": ["a1", "a2"]}).save_to_disk(
        str(tmp_path / "hf"))
    hf = read_source(str(tmp_path / "hf"))
    assert [(r.text, r.answer) for r in hf] == [("q1", "a1"), ("q2", "a2")]
    (tmp_path / "bad.jsonl").write_text("{nope\n")
    with pytest.raises(InputError, match="bad.jsonl:1"):
        read_source(str(tmp_path / "bad.jsonl"))


@mock_aws
def test_source_from_s3(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("ICHIGO_CACHE_DIR", str(tmp_path / "cache"))
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="data")
    buf = pa.BufferOutputStream()
    pq.write_table(pa.Table.from_pylist([{"question": "q", "answer": "a"}] * 3), buf)
    s3.put_object(Bucket="data", Key="src/part-0.parquet", Body=buf.getvalue().to_pybytes())
    s3.put_object(Bucket="data", Key="src/more.jsonl", Body=b'{"prompt": "p", "response": "r"}\n')
    rows = read_source("s3://data/src")
    assert len(rows) == 4 and rows[0].text == "p" and rows[1].answer == "a"
    with pytest.raises(InputError, match="nothing found"):
        read_source("s3://data/absent")
