import json
import os

from ichigo.cache import STEP_FILE
from pipelines.run_local import LocalRun, format_summary, run_sources
from ichigo.config import load_profile


def test_last_run_lists_every_source_of_the_newest_run(tmp_path):
    srcs = [{"name": "mls_en", "kind": "asr", "used": 40, "skipped": {"missing_audio": 2, "too_long": 1}},
            {"name": "alpaca", "kind": "instruct", "used": 402, "skipped": {}}]
    for run, sources, t in (("ichigo-old", [], 1000), ("ichigo-new", srcs, 2000)):
        d = tmp_path / run / "merge-speech-corpus" / "corpus"
        d.mkdir(parents=True)
        (d / STEP_FILE).write_text(json.dumps({"summary": {"sources": sources}}))
        os.utime(tmp_path / run, (t, t))
    assert run_sources(tmp_path) == srcs
    assert run_sources(tmp_path / "absent") == []
    text = format_summary(LocalRun({"sources": srcs}, 60.0, tmp_path), load_profile("smoke"))
    assert "mls_en" in text and "missing_audio 2, too_long 1" in text and "402 used; skipped: none" in text
