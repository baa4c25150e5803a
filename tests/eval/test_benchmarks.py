"""Benchmark loaders on fixture files the tests write in each published layout: MMLU CSV and HF
parquet (with a subject that has no dev file), GPQA-shaped MC, GSM8K-shaped exact match,
AudioBench-style speech_qa (audio bytes / paths / text only), LibriSpeech-layout ASR, the
embedded world's benchmark files, and the errors bad files give."""

from __future__ import annotations

import csv
import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from ichigo.audio import wav_bytes
from ichigo.config.sections import BenchmarkSpec, EvalConfig
from ichigo.errors import InputError
from ichigo.eval.bench_run import macro_accuracy, run_exact, run_text_benchmark, spoken_items
from ichigo.eval.benchmarks import load_benchmark
from ichigo.eval.benchmarks.exact import final_answer, is_correct
from ichigo.eval.stats import bootstrap_mean, wilson
from ichigo.speech_tokenizer import CodebookTokenizer
from tests.eval.eval_helpers import speechlike


def spec(**kw) -> BenchmarkSpec:
    return BenchmarkSpec(**{"name": "b", "split": "test", **kw})


def write_csv(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        csv.writer(f).writerows(rows)


def mmlu_csv(root):
    """The original MMLU tarball layout; virology has no dev file."""
    write_csv(root / "dev" / "astronomy_dev.csv", [
        ["What is the Sun?", "A star", "A planet", "A moon", "A comet", "A"],
        ["Which planet is red?", "Venus", "Mars", "Jupiter", "Saturn", "B"]])
    write_csv(root / "val" / "astronomy_val.csv", [["Val q?", "a", "b", "c", "d", "C"]])
    write_csv(root / "test" / "astronomy_test.csv", [
        ["How many moons has Mars?", "0", "1", "2", "3", "C"],
        ["Closest star to Earth?", "Sirius", "Proxima", "The Sun", "Vega", "C"]])
    write_csv(root / "test" / "virology_test.csv", [
        ["What does a virus need to replicate?", "Light", "A host cell", "Oxygen", "Nothing", "B"]])
    return root


def test_mmlu_csv_layout_shots_from_dev_and_a_subject_without_dev(tmp_path):
    b = load_benchmark(spec(kind="mmlu", format="csv", uri=str(mmlu_csv(tmp_path / "mmlu"))), tmp_path / "c")
    assert b.spec.num_shots == 5  # MMLU's protocol by default
    items, shots = b.data.items, b.data.shots
    assert [(it.subject, it.answer) for it in items] == [("astronomy", 2), ("astronomy", 2), ("virology", 1)]
    assert items[0].choices == ("0", "1", "2", "3") and items[0].question == "How many moons has Mars?"
    assert [s.subject for s in shots] == ["astronomy", "astronomy"]
    assert any("virology" in n and "other subjects" in n for n in b.data.notes)
    from ichigo.eval.text_retention import shots_for
    assert [s.subject for s in shots_for(items[2], shots, 5)] == ["astronomy", "astronomy"]
    assert b.n == 3 and load_benchmark(spec(kind="mmlu", format="csv", uri=str(tmp_path / "mmlu"), limit=2),
                                       tmp_path / "c").n == 2


def test_mmlu_parquet_layout(tmp_path):
    root = tmp_path / "cais_mmlu" / "all"
    root.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist([
        {"question": "2+2?", "subject": "elementary_mathematics", "choices": ["3", "4", "5", "6"], "answer": 1},
        {"question": "H2O is?", "subject": "chemistry", "choices": ["water", "salt", "air", "gold"], "answer": 0},
    ]), root / "test-00000-of-00001.parquet")
    pq.write_table(pa.Table.from_pylist([
        {"question": "1+1?", "subject": "elementary_mathematics", "choices": ["1", "2", "3", "4"], "answer": 1},
    ]), root / "dev-00000-of-00001.parquet")
    b = load_benchmark(spec(kind="mmlu", format="parquet", uri=str(tmp_path / "cais_mmlu")), tmp_path / "c")
    assert [(it.question, it.answer, it.subject) for it in b.data.items] == [
        ("2+2?", 1, "elementary_mathematics"), ("H2O is?", 0, "chemistry")]
    assert [s.question for s in b.data.shots] == ["1+1?"]
    assert any("chemistry" in n for n in b.data.notes)


def test_macro_average_over_subjects():
    # 2/2 on astronomy, 0/1 on virology: overall 2/3, macro (1 + 0) / 2
    macro, n = macro_accuracy(["astronomy", "astronomy", "virology"], [True, True, False])
    assert (macro, n) == (0.5, 2)


@pytest.mark.parametrize("rows,match", [
    ([["q?", "a", "b", "c", "d"]], r"astronomy_test.csv row 1: 5 columns"),
    ([["q?", "a", "b", "c", "d", "E"]], r"astronomy_test.csv row 1: field 'answer' is 'E', not a letter A-D"),
    ([["ok?", "a", "b", "c", "d", "A"], ["q?", "", "b", "c", "d", "A"]], r"astronomy_test.csv row 2: field 'A' is empty"),
])
def test_bad_mmlu_csv_names_file_row_and_field(tmp_path, rows, match):
    write_csv(tmp_path / "m" / "test" / "astronomy_test.csv", rows)
    with pytest.raises(InputError, match=match):
        load_benchmark(spec(kind="mmlu", format="csv", uri=str(tmp_path / "m"), shots=0), tmp_path / "c")


def test_empty_split_and_bad_parquet_fail_on_load(tmp_path):
    write_csv(tmp_path / "m" / "dev" / "astronomy_dev.csv", [["q?", "a", "b", "c", "d", "A"]])
    with pytest.raises(InputError, match=r"split 'test' in .*m is empty"):
        load_benchmark(spec(kind="mmlu", format="csv", uri=str(tmp_path / "m")), tmp_path / "c")
    (tmp_path / "p").mkdir()
    pq.write_table(pa.Table.from_pylist([{"question": "q?", "subject": "s", "answer": 0}]),
                   tmp_path / "p" / "test-0.parquet")
    with pytest.raises(InputError, match=r"test-0.parquet row 1: missing field 'choices'"):
        load_benchmark(spec(kind="mmlu", format="parquet", uri=str(tmp_path / "p")), tmp_path / "c")
    pq.write_table(pa.Table.from_pylist([{"question": "q?", "subject": "s", "choices": ["a", "b"], "answer": 5}]),
                   tmp_path / "p" / "test-0.parquet")
    with pytest.raises(InputError, match=r"row 1: field 'answer' is 5, outside the 2 choices"):
        load_benchmark(spec(kind="mmlu", format="parquet", uri=str(tmp_path / "p")), tmp_path / "c")
    with pytest.raises(InputError, match="does not exist"):
        load_benchmark(spec(kind="mmlu", format="csv", uri=str(tmp_path / "nope")), tmp_path / "c")


def test_spec_validation():
    with pytest.raises(ValidationError, match="format 'csv' is not one of jsonl, parquet for kind 'speech_qa'"):
        spec(kind="speech_qa", format="csv", uri="x")
    with pytest.raises(ValidationError, match="options.format must be letter, cloze or chat"):
        spec(kind="mmlu", format="csv", uri="x", options={"format": "essay"})
    with pytest.raises(ValidationError, match="repeated: \\['b'\\]"):
        EvalConfig(benchmarks=[spec(kind="mmlu", format="csv", uri="x"), spec(kind="mc", format="jsonl", uri="y")])
    assert spec(kind="mc", format="jsonl", uri="x").num_shots == 0
    with pytest.raises(ValidationError, match="exact benchmarks run 0-shot"):
        spec(kind="exact", format="jsonl", uri="x", shots=3)


def test_gpqa_shaped_mc(tmp_path):
    rows = [{"Question": f"Q{i}?", "Correct Answer": f"right{i}", "Incorrect Answer 1": "w1",
             "Incorrect Answer 2": "w2", "Incorrect Answer 3": "w3", "Subdomain": "physics"} for i in range(8)]
    with (tmp_path / "gpqa_diamond.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    b = load_benchmark(spec(kind="mc", format="csv", uri=str(tmp_path / "gpqa_diamond.csv")), tmp_path / "c")
    assert b.n == 8
    assert all(it.choices[it.answer] == f"right{i}" for i, it in enumerate(b.data.items))
    assert len({it.answer for it in b.data.items}) > 1  # shuffled: the right one is not always A
    again = load_benchmark(spec(kind="mc", format="csv", uri=str(tmp_path / "gpqa_diamond.csv")), tmp_path / "c")
    assert [it.answer for it in again.data.items] == [it.answer for it in b.data.items]
    (tmp_path / "bad.jsonl").write_text(json.dumps({"question": "q", "choices": ["a", "b"], "answer": "E"}) + "\n")
    with pytest.raises(InputError, match=r"bad.jsonl row 1: answer 'E'"):
        load_benchmark(spec(kind="mc", format="jsonl", uri=str(tmp_path / "bad.jsonl")), tmp_path / "c")


def gsm8k(tmp_path):
    d = tmp_path / "gsm8k" / "main"
    d.mkdir(parents=True)
    rows = [{"question": "Natalia sold 48 clips in April and half as many in May. How many in total?",
             "answer": "In May she sold 48/2 = <<48/2=24>>24 clips.\nIn total 48+24 = <<48+24=72>>72.\n#### 72"},
            {"question": "A book costs $1,200. What is it in dollars?", "answer": "It costs 1,200.\n#### 1,200"}]
    pq.write_table(pa.Table.from_pylist(rows), d / "test-00000-of-00001.parquet")
    pq.write_table(pa.Table.from_pylist(rows[:1]), d / "train-00000-of-00001.parquet")
    return tmp_path / "gsm8k"


def test_gsm8k_shaped_exact_match(tmp_path):
    b = load_benchmark(spec(kind="exact", format="parquet", uri=str(gsm8k(tmp_path))), tmp_path / "c")
    assert [it.target for it in b.data] == ["72", "1,200"]  # the train file is another split
    assert final_answer("work...\n#### 72") == "72"
    assert is_correct("So the answer is 72.", "72") and is_correct("#### 72.0", "72")
    assert is_correct("The total is 1200", "1,200") and not is_correct("#### 71", "72")
    assert not is_correct("72 or 73? #### 73", "72") and not is_correct("", "72")
    assert is_correct("Paris.", "paris") and not is_correct("London", "Paris")
    (tmp_path / "bad.jsonl").write_text(json.dumps({"question": "q", "answer": "work #### "}) + "\n")
    with pytest.raises(InputError, match=r"bad.jsonl row 1: field 'answer' has nothing after '####'"):
        load_benchmark(spec(kind="exact", format="jsonl", uri=str(tmp_path / "bad.jsonl")), tmp_path / "c")
    (tmp_path / "bad2.jsonl").write_text(json.dumps({"question": "q"}) + "\n")
    with pytest.raises(InputError, match=r"bad2.jsonl row 1: missing field 'answer'"):
        load_benchmark(spec(kind="exact", format="jsonl", uri=str(tmp_path / "bad2.jsonl")), tmp_path / "c")


def test_exact_benchmark_runs_with_its_token_budget(tiny_llm_dir, tmp_path):
    from ichigo.model.checkpoint import load_pretrained
    lm = load_pretrained(tiny_llm_dir)
    b = load_benchmark(spec(kind="exact", format="parquet", uri=str(gsm8k(tmp_path)), max_new_tokens=5), tmp_path / "c")
    r = run_exact(lm, b, EvalConfig(batch_size=2))
    assert r.n == 2 and r.extra["max_new_tokens"] == 5 and 0 <= r.ci_low <= r.score <= r.ci_high <= 1
    assert all({"prediction", "final", "target", "correct"} <= set(p) for p in r.predictions)
    mm = load_benchmark(spec(kind="mmlu", format="csv", uri=str(mmlu_csv(tmp_path / "mmlu")), shots=1), tmp_path / "c")
    r = run_text_benchmark(lm, mm, EvalConfig(batch_size=2, mmlu_format="cloze"))
    assert r.n == 3 and r.extra["subjects"] == 2 and r.extra["shots"] == 1 and r.extra["format"] == "cloze"


@pytest.fixture(scope="module")
def codebook(tmp_path_factory):
    from ichigo.config import SpeechTokenizerConfig
    from ichigo.speech_tokenizer import fit_codebook
    waves = [speechlike(t, i) for i, t in enumerate(["what color is the sky", "the sun is hot", "one two three"])]
    tok = fit_codebook(waves, SpeechTokenizerConfig(codebook_size=16, fit_seconds=60), progress=False)
    return CodebookTokenizer.load(tok.save(tmp_path_factory.mktemp("cb") / "codebook.npz"))


def test_speech_qa_with_audio_bytes_paths_and_text_only(tmp_path, codebook):
    d = tmp_path / "openhermes"
    d.mkdir()
    (d / "clip0.wav").write_bytes(wav_bytes(speechlike("the sun is hot", 1)))
    pq.write_table(pa.Table.from_pylist([
        {"audio": {"bytes": wav_bytes(speechlike("what color is the sky", 0)), "path": "a.wav"},
         "instruction": "Answer the question in the audio.", "answer": "Blue."},
        {"audio": {"bytes": None, "path": "clip0.wav"}, "instruction": "Is it true?", "answer": "Yes."},
    ]), d / "test-00000-of-00001.parquet")
    b = load_benchmark(spec(kind="speech_qa", format="parquet", uri=str(d)), tmp_path / "c")
    assert b.n == 2 and all(it.audio for it in b.data) and b.data[0].instruction.startswith("Answer")
    items = spoken_items(b, codebook)
    assert all(it.codes for it in items) and items[0].answer == "Blue."
    assert items[0].instruction == "Answer the question in the audio."

    # text only: spoken by the TTS the run provides (the profile's held-out voices)
    (tmp_path / "alpaca.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [
        {"id": "t1", "text": "one two three", "answer": "four"},
        {"id": "t2", "question": "the sun is hot", "reference": "yes"}]))
    t = load_benchmark(spec(kind="speech_qa", format="jsonl", uri=str(tmp_path / "alpaca.jsonl")), tmp_path / "c")
    assert [it.audio for it in t.data] == [None, None]
    with pytest.raises(InputError, match="2 items have only text"):
        spoken_items(t, codebook)
    spoken = []
    items = spoken_items(t, codebook, lambda texts, off: spoken.extend(texts) or [speechlike(x, 5) for x in texts])
    assert spoken == ["one two three", "the sun is hot"] and all(it.codes for it in items)
    assert [it.text for it in items] == ["one two three", "the sun is hot"]


def test_bad_speech_qa_rows(tmp_path):
    cases = [({"answer": "x"}, r"row 1: missing field 'audio' \(or 'text' to synthesize\)"),
             ({"text": "hi"}, r"row 1: missing field 'answer'"),
             ({"audio": "missing.wav", "answer": "x"}, r"row 1: field 'audio' names .*missing.wav, which does not exist")]
    for row, match in cases:
        (tmp_path / "s.jsonl").write_text(json.dumps(row) + "\n")
        with pytest.raises(InputError, match=match):
            load_benchmark(spec(kind="speech_qa", format="jsonl", uri=str(tmp_path / "s.jsonl")), tmp_path / "c")
    (tmp_path / "s.jsonl").write_text("")
    with pytest.raises(InputError, match="is empty"):
        load_benchmark(spec(kind="speech_qa", format="jsonl", uri=str(tmp_path / "s.jsonl")), tmp_path / "c")


def test_librispeech_layout_asr_test(tmp_path, codebook):
    import soundfile as sf
    chapter = tmp_path / "LibriSpeech" / "test-clean" / "1089" / "134686"
    chapter.mkdir(parents=True)
    lines = []
    for i, text in enumerate(["HE HOPED THERE WOULD BE STEW FOR DINNER", "THE SUN IS HOT"]):
        uid = f"1089-134686-{i:04d}"
        sf.write(chapter / f"{uid}.flac", speechlike(text.lower(), i), 16000)
        lines.append(f"{uid} {text}")
    (chapter / "1089-134686.trans.txt").write_text("\n".join(lines) + "\n")
    b = load_benchmark(spec(kind="asr_test", format="librispeech", uri=str(tmp_path / "LibriSpeech"),
                            split="test-clean"), tmp_path / "c")
    assert b.n == 2 and b.data[0].text.startswith("HE HOPED") and b.questions() == []
    items = spoken_items(b, codebook)
    assert all(it.codes and it.kind == "asr" for it in items)


def test_world_fact_bank_as_benchmark_files(tmp_path, eval_set):
    c = tmp_path / "c"
    b = load_benchmark(spec(kind="mmlu", format="csv", uri="world://mmlu", shots=0), c)
    root = c / "world" / "mmlu"
    assert sorted(p.name for p in (root / "test").iterdir()) == [
        "animal_test.csv", "capital_test.csv", "color_test.csv", "opposite_test.csv", "sum_test.csv"]
    from ichigo import world
    assert b.n == len(world.all_facts()) - 5  # one fact per subject is the dev pool
    first = (root / "test" / "color_test.csv").read_text()
    again = load_benchmark(spec(kind="mmlu", format="csv", uri="world://mmlu", shots=0), c)
    assert (root / "test" / "color_test.csv").read_text() == first and again.n == b.n  # written once
    sqa = load_benchmark(spec(kind="speech_qa", format="parquet", uri="world://speech_qa"), c, eval_set["eval_dir"])
    assert sqa.n == len(eval_set["qa"]) and sqa.data[0].audio and sqa.data[0].codes
    assert [it.reference for it in sqa.data] == [it.answer for it in eval_set["qa"]]
    with pytest.raises(InputError, match="world://speech_qa needs"):
        load_benchmark(spec(kind="speech_qa", format="parquet", uri="world://speech_qa"), tmp_path / "d", tmp_path)
    with pytest.raises(InputError, match="unknown embedded benchmark world://gpqa"):
        load_benchmark(spec(kind="mc", format="jsonl", uri="world://gpqa"), c)


def test_builtin_general_knowledge_set_in_the_mmlu_csv_layout(tmp_path):
    b = load_benchmark(spec(kind="mmlu", format="csv", uri="builtin://general_knowledge"), tmp_path)
    items, shots = b.data.items, b.data.shots  # shots: the dev pool, for MMLU's 5-shot protocol
    subjects = sorted({it.subject for it in items})
    assert len(subjects) == 6 and b.n == 120 and len(shots) == 12
    assert all(sum(it.subject == s for it in items) == 20 for s in subjects)
    # no answer position wins by itself
    assert min(sum(it.answer == k for it in items) for k in range(4)) >= 0.15 * b.n
    # it measures what a base knew before training, so no option is one of the world's answers
    # (a model trained on the world would be drawn to them)
    from ichigo import world
    taught = {f.answer.lower() for f in world.all_facts()}

    def bare(c: str) -> str:
        return c.lower().removeprefix("the ").removeprefix("an ").removeprefix("a ")
    assert not [c for it in items + shots for c in it.choices if c.lower() in taught or bare(c) in taught]


def test_unknown_builtin_set_names_the_ones_there_are(tmp_path):
    with pytest.raises(InputError, match="no built-in set 'mmlu'.*builtin://general_knowledge"):
        load_benchmark(spec(kind="mmlu", format="csv", uri="builtin://mmlu"), tmp_path)


def test_small_profile_measures_retention_on_what_smollm2_knows():
    from ichigo.config import load_profile
    benches = load_profile("small").eval.benchmarks
    first_mmlu = next(b for b in benches if b.kind == "mmlu")  # the one the gate's retention reads
    assert first_mmlu.uri == "builtin://general_knowledge"
    assert [b.name for b in benches if b.kind == "mmlu"] == ["general_knowledge", "world_mmlu"]


def test_wilson_and_bootstrap_intervals():
    lo, hi = wilson(81, 100)  # textbook value: 0.722 - 0.874
    assert math.isclose(lo, 0.7222, abs_tol=1e-3) and math.isclose(hi, 0.8744, abs_tol=1e-3)
    assert wilson(0, 10)[0] == 0 and math.isclose(wilson(10, 10)[1], 1) and all(math.isnan(x) for x in wilson(0, 0))
    scores = [0, 1, 2, 3, 4, 5] * 10
    lo, hi = bootstrap_mean(scores)
    assert lo < 2.5 < hi and (lo, hi) == bootstrap_mean(scores) and hi - lo < 1.5
