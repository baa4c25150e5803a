from ichigo.eval.cache import ItemCache, fingerprint


def test_resume_keeps_records_and_drops_a_torn_line(tmp_path):
    path = tmp_path / "c.jsonl"
    c = ItemCache(path, "fp1")
    c.put({"id": "a", "v": 1})
    c.put({"id": "b", "v": 2})
    with path.open("a") as f:
        f.write('{"id": "c", "v"')  # killed mid-write
    again = ItemCache(path, "fp1")
    assert again.get("a") == {"id": "a", "v": 1} and again.get("b") and again.get("c") is None
    again.put({"id": "c", "v": 3})
    assert ItemCache(path, "fp1").get("c") == {"id": "c", "v": 3}


def test_other_fingerprint_starts_afresh(tmp_path):
    c = ItemCache(tmp_path / "c.jsonl", "fp1")
    c.put({"id": "a"})
    assert ItemCache(tmp_path / "c.jsonl", "fp2").get("a") is None


def test_fingerprint_sees_settings_and_file_changes(tmp_path):
    f = tmp_path / "model.safetensors"
    f.write_bytes(b"x")
    a = fingerprint({"k": 1}, files=[f])
    assert a == fingerprint({"k": 1}, files=[f]) != fingerprint({"k": 2}, files=[f])
    f.write_bytes(b"xy")
    assert fingerprint({"k": 1}, files=[f]) != a
