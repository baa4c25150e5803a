import json

from ichigo.cache import STEP_FILE, input_key, run_step


def test_second_run_is_served_from_cache_and_keys_chain(tmp_path):
    calls = []

    def produce(out):
        calls.append(out)
        (out / "data.txt").write_text("hello")
        return {"rows": 1}

    cache = tmp_path / "cache"
    a = run_step("make", {"n": 1}, {}, tmp_path / "a1", produce, cache)
    b = run_step("make", {"n": 1}, {}, tmp_path / "a2", produce, cache)
    assert (a["cached"], b["cached"]) == (False, True) and len(calls) == 1
    assert (tmp_path / "a2/data.txt").read_text() == "hello"
    # a config change or a changed input means a new key
    run_step("make", {"n": 2}, {}, tmp_path / "a3", produce, cache)
    assert len(calls) == 2
    k1 = input_key(tmp_path / "a1")
    assert k1 == json.loads((tmp_path / "a1" / STEP_FILE).read_text())["key"]
    assert input_key(tmp_path / "a3") != k1


def test_killed_step_resumes_in_the_same_work_dir(tmp_path):
    cache = tmp_path / "cache"
    seen = []

    def flaky(out):
        seen.append(sorted(p.name for p in out.iterdir()))
        (out / "part-0").write_text("done")
        if len(seen) == 1:
            raise KeyboardInterrupt  # as if the run was killed after the first shard
        (out / "part-1").write_text("done")
        return {}

    try:
        run_step("shards", {}, {}, tmp_path / "o", flaky, cache)
    except KeyboardInterrupt:
        pass
    run_step("shards", {}, {}, tmp_path / "o", flaky, cache)
    assert seen[1] == ["part-0"]  # the second attempt saw the first one's work
    assert sorted(p.name for p in (tmp_path / "o").iterdir() if p.name != STEP_FILE) == ["part-0", "part-1"]


def test_without_cache_dir_the_step_runs_in_place(tmp_path):
    r = run_step("x", {}, {}, tmp_path / "o", lambda out: {"ok": 1}, None)
    assert r == {"ok": 1, "cached": False} and (tmp_path / "o" / STEP_FILE).is_file()


def test_code_version_covers_code_profiles_and_builtin_benchmark_sets(tmp_path):
    from ichigo.cache import tree_hash
    (tmp_path / "eval" / "builtin" / "gk" / "test").mkdir(parents=True)
    (tmp_path / "m.py").write_text("x = 1\n")
    csv_file = tmp_path / "eval" / "builtin" / "gk" / "test" / "s_test.csv"
    csv_file.write_text("Q?,a,b,c,d,A\n")
    first = tree_hash(tmp_path)
    (tmp_path / "notes.md").write_text("not a source")
    assert tree_hash(tmp_path) == first
    csv_file.write_text("Q?,a,b,c,d,B\n")  # a benchmark's answer key changed: cached scores are stale
    assert tree_hash(tmp_path) != first
