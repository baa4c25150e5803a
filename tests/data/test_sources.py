import boto3
import pytest
from moto import mock_aws
from pydantic import ValidationError

from ichigo.audio import read_audio
from ichigo.config import load_profile
from ichigo.data.sources import SourceSpec, SourceStats, count_positions, iter_source
from ichigo.errors import ConfigError, InputError
from tests.data.source_fixtures import (write_alpaca, write_commonvoice, write_librispeech, write_messages,
                                        write_mls, write_parquet_asr, write_sharegpt)


def read(spec: SourceSpec, **kw):
    stats = SourceStats(spec.name, spec.kind)
    return list(iter_source(spec, stats=stats, **kw)), stats.as_dict()


def test_mls_layout_flac_and_opus_with_broken_rows(tmp_path):
    spec = SourceSpec(name="mls_en", kind="asr", format="mls", uri=str(write_mls(tmp_path)), language="en")
    rows, stats = read(spec)
    assert [r.id for r in rows] == [f"mls_en/{s}" for s in
                                    ("10_100_000000", "10_100_000001", "11_200_000002", "12_300_000003")]
    assert rows[1].audio[:4] == b"OggS" and read_audio(rows[1].audio)[0].size > 0
    assert rows[0].speaker == "10" and rows[0].language == "en" and rows[0].text == "spoken words number 0"
    assert stats == {"name": "mls_en", "kind": "asr", "used": 4, "skipped": {
        "empty_text": 1, "malformed_line": 1, "missing_audio": 1, "undecodable_audio": 1}}


def test_librispeech_and_commonvoice_layouts(tmp_path):
    ls = SourceSpec(name="ls", kind="asr", format="librispeech", uri=str(write_librispeech(tmp_path / "ls")),
                    split="dev-clean")
    rows, stats = read(ls)
    assert [r.id for r in rows] == ["ls/174-50561-0000", "ls/84-121123-0000", "ls/84-121123-0001"]
    assert rows[0].text == "HELLO FROM 174 NUMBER 0" and stats["skipped"] == {"missing_audio": 1}
    cv = SourceSpec(name="cv", kind="asr", format="commonvoice", uri=str(write_commonvoice(tmp_path / "cv")))
    rows, stats = read(cv)
    assert [(r.id, r.text, r.speaker) for r in rows] == [
        ("cv/common_voice_en_1", 'He said "hello" there', "c1"), ("cv/common_voice_en_2", "A second sentence", "c2")]
    assert stats["skipped"] == {"empty_text": 1, "missing_audio": 1}


def test_parquet_audio_struct_path_and_column_mapping(tmp_path):
    root = write_parquet_asr(tmp_path)
    spec = SourceSpec(name="hf", kind="asr", format="parquet", uri=str(root), split="train",
                      columns={"text": "transcription"}, max_seconds=20)
    rows, stats = read(spec)
    assert [(r.id, r.text) for r in rows] == [("hf/p0", "struct bytes"), ("hf/p1", "by path")]
    assert stats["skipped"] == {"empty_text": 1, "too_long": 1, "undecodable_audio": 1}
    assert count_positions(spec) == 5 and count_positions(spec.model_copy(update={"limit": 2})) == 2
    unmapped = SourceSpec(name="hf", kind="asr", format="parquet", uri=str(root))
    with pytest.raises(InputError, match=r"source 'hf': .*train-00000-of-00001.parquet has no column 'text'"):
        read(unmapped)


def test_alpaca_messages_and_sharegpt(tmp_path):
    alpaca = SourceSpec(name="alp", kind="instruct", format="alpaca", uri=str(write_alpaca(tmp_path / "a.jsonl")))
    rows, stats = read(alpaca)
    assert [r.messages for r in rows] == [
        [{"role": "user", "content": "Name a color."}, {"role": "assistant", "content": "Blue."}],
        [{"role": "user", "content": "Translate to French.\n\ncat"}, {"role": "assistant", "content": "chat"}]]
    assert stats["skipped"] == {"empty_text": 1, "invalid_json": 1, "wrong_type": 1}
    msgs = SourceSpec(name="dlg", kind="dialogue", format="messages", uri=str(write_messages(tmp_path / "m.jsonl")))
    rows, stats = read(msgs)
    assert [r.id for r in rows] == ["dlg/m0", "dlg/m1"] and rows[0].user_turns == 2
    assert rows[1].messages[0] == {"role": "user", "content": "parts"}
    assert stats["skipped"] == {"bad_role": 1, "no_exchange": 1}
    sg = SourceSpec(name="sg", kind="dialogue", format="sharegpt", uri=str(write_sharegpt(tmp_path / "s.parquet")))
    rows, stats = read(sg)
    assert [m["role"] for m in rows[0].messages] == ["user", "assistant", "user", "assistant"]
    assert stats["used"] == 1 and stats["skipped"] == {"empty_text": 1}


def test_wrong_format_fails_on_load_naming_source_file_and_column(tmp_path):
    path = write_messages(tmp_path / "m.jsonl")
    spec = SourceSpec(name="oops", kind="instruct", format="alpaca", uri=str(path))
    with pytest.raises(InputError, match=r"source 'oops': .*m.jsonl has no column 'instruction'"):
        read(spec)
    with pytest.raises(InputError, match=r"source 'mls': .*transcripts.txt does not exist"):
        read(SourceSpec(name="mls", kind="asr", format="mls", uri=str(tmp_path)))
    with pytest.raises(InputError, match="source 'gone'.*does not exist"):
        read(SourceSpec(name="gone", kind="text", format="messages", uri=str(tmp_path / "nope")))


def test_source_with_no_usable_rows_fails_naming_it(tmp_path):
    (tmp_path / "x.jsonl").write_text('{"instruction": "", "output": ""}\n')
    with pytest.raises(InputError, match=r"source 'empty' \(instruct\) yielded no usable rows \(empty_text: 1\)"):
        read(SourceSpec(name="empty", kind="instruct", format="alpaca", uri=str(tmp_path / "x.jsonl")))


def test_shards_partition_and_resume_without_duplicates(tmp_path):
    spec = SourceSpec(name="mls", kind="asr", format="mls", uri=str(write_mls(tmp_path)))
    full = [r.id for r in read(spec)[0]]
    assert count_positions(spec) == 8  # every transcript line, good or bad
    shards = [[r.id for r in read(spec, shard=k, num_shards=3)[0]] for k in range(3)]
    assert sorted(sum(shards, [])) == sorted(full) and len(sum(shards, [])) == len(full)
    # a consumer killed after its 2nd row resumes from the recorded index
    it = iter_source(spec)
    done = [next(it), next(it)]
    rest = list(iter_source(spec, start=done[-1].index + 1))
    assert [r.id for r in done + rest] == full


def test_limit_and_fraction_are_stable(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text("".join(f'{{"id": "r{i}", "instruction": "q{i}", "output": "a{i}"}}\n' for i in range(200)))
    assert len(read(SourceSpec(name="a", kind="text", format="alpaca", uri=str(path), limit=7))[0]) == 7
    half = SourceSpec(name="a", kind="text", format="alpaca", uri=str(path), fraction=0.5)
    first, again = read(half)[0], read(half)[0]
    assert 60 < len(first) < 140 and [r.id for r in first] == [r.id for r in again]


def test_spec_validation_errors():
    with pytest.raises(ValidationError, match="format 'alpaca' cannot hold kind 'asr'"):
        SourceSpec(name="x", kind="asr", format="alpaca", uri="/d")
    with pytest.raises(ValidationError, match=r"columns \['transcript'\] are not used by format 'mls'"):
        SourceSpec(name="x", kind="asr", format="mls", uri="/d", columns={"transcript": "t"})
    with pytest.raises(ValidationError, match="asr_gate applies to asr sources only"):
        SourceSpec(name="x", kind="text", format="alpaca", uri="/d", asr_gate=True)
    with pytest.raises(ConfigError, match="data.source was replaced by data.sources"):
        load_profile("local", overrides={"data": {"source": "/d"}})
    with pytest.raises(ConfigError, match="names must be unique"):
        load_profile("local", overrides={"data": {"sources": [
            {"name": "a", "kind": "text", "format": "alpaca", "uri": "/d"}] * 2}})
    # local's ASR test split is the embedded world's: declared sources bring their own test set
    one = [{"name": "a", "kind": "text", "format": "alpaca", "uri": "/d"}]
    with pytest.raises(ConfigError, match="num_eval_sentences is the embedded world's ASR test split"):
        load_profile("local", overrides={"data": {"sources": one}})
    assert load_profile("local", overrides={"data": {"sources": one, "num_eval_sentences": 0}}).data.sources


@mock_aws
def test_source_from_s3(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("ICHIGO_CACHE_DIR", str(tmp_path / "cache"))
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="alpaca/part-0.jsonl", Body=b'{"instruction": "p", "output": "r"}\n')
    rows, _ = read(SourceSpec(name="s3a", kind="instruct", format="alpaca", uri="s3://data/alpaca"))
    assert rows[0].messages[1]["content"] == "r"
    with pytest.raises(InputError, match="source 's3b'"):
        read(SourceSpec(name="s3b", kind="instruct", format="alpaca", uri="s3://data/absent"))


@mock_aws
def test_mls_on_s3_fetches_only_the_audio_of_the_rows_read(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("ICHIGO_CACHE_DIR", str(tmp_path / "cache"))
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="mls")
    local = write_mls(tmp_path / "mls")
    for f in local.rglob("*"):
        if f.is_file():
            s3.put_object(Bucket="mls", Key=f"mls_german/{f.relative_to(local).as_posix()}", Body=f.read_bytes())
    spec = SourceSpec(name="mls_de", kind="asr", format="mls", uri="s3://mls/mls_german", language="de")
    rows, stats = read(spec, shard=0, num_shards=2)
    assert [r.id for r in rows] == ["mls_de/10_100_000000", "mls_de/11_200_000002"]
    cached = sorted(p.name for p in (tmp_path / "cache").rglob("*.flac")) + sorted(
        p.name for p in (tmp_path / "cache").rglob("*.opus"))
    assert "10_100_000001.opus" not in cached and "12_300_000003.flac" not in cached
    assert stats["skipped"] == {"empty_text": 1, "missing_audio": 1}  # shard 0: lines 1, 3, 5, 7
    assert count_positions(spec) == 8
