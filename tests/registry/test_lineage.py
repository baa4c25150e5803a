import json
import subprocess
from dataclasses import replace

import pytest

from ichigo.config import load_profile
from ichigo.errors import InputError
from ichigo.paths import REPO_ROOT
from ichigo.registry.lineage import (
    CodeVersion, Lineage, build_lineage, code_version, data_manifests, numeric_metrics, sha256_file,
    validate_metrics,
)
from ichigo.registry.model_card import render_model_card


def _data(tmp_path):
    for stage in ("stage1", "stage2"):
        d = tmp_path / "stages" / stage
        d.mkdir(parents=True)
        (d / "manifest.json").write_text(json.dumps({"stage": stage, "rows": 10}))
        (d / "part-00000.parquet").write_bytes(b"not hashed")
    return {"stages": tmp_path / "stages"}


def test_data_manifests_hashes_every_manifest(tmp_path):
    ms = data_manifests(_data(tmp_path))
    assert [m.name for m in ms] == ["stages/stage1/manifest.json", "stages/stage2/manifest.json"]
    assert ms[0].sha256 == sha256_file(tmp_path / "stages/stage1/manifest.json")
    assert ms[0].sha256 != ms[1].sha256


def test_data_manifests_refuses_missing_data(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        data_manifests({"x": tmp_path / "nope"})
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no manifest.json"):
        data_manifests({"x": tmp_path / "empty"})


def test_lineage_hash_is_stable_and_tracks_provenance(tmp_path):
    lin = build_lineage(load_profile("local"), "run-1", _data(tmp_path), {"stage1": [3.0, 2.0]},
                        {"wer": 0.5, "note": "ignored"}, {"passed": True, "reasons": ["ok"]})
    assert lin.eval_metrics == {"wer": 0.5}
    assert set(lin.stage_configs) == {"stage1", "stage2", "stage3"}
    again = Lineage.from_dict(json.loads(json.dumps(lin.to_dict())))
    assert again.hash() == lin.hash()
    assert replace(lin, model_card="# any text").hash() == lin.hash()  # derived text is not identity
    assert replace(lin, pipeline_run_id="run-2").hash() != lin.hash()
    assert replace(lin, code=CodeVersion(lin.code.git_sha, not lin.code.dirty)).hash() != lin.hash()
    (tmp_path / "stages/stage2/manifest.json").write_text("{}")
    changed = build_lineage(load_profile("local"), "run-1", {"stages": tmp_path / "stages"},
                            {"stage1": [3.0, 2.0]}, {"wer": 0.5}, {"passed": True, "reasons": ["ok"]})
    assert changed.hash() != lin.hash()


def test_code_version_reads_git(monkeypatch):
    monkeypatch.delenv("ICHIGO_GIT_SHA", raising=False)
    head = subprocess.run(["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    cv = code_version()
    assert cv.git_sha == head and len(head) == 40
    monkeypatch.setenv("ICHIGO_GIT_SHA", "abc123")
    assert code_version() == CodeVersion("abc123", False)


def test_code_version_outside_a_repo(tmp_path, monkeypatch):
    monkeypatch.delenv("ICHIGO_GIT_SHA", raising=False)
    assert code_version(tmp_path) == CodeVersion("unknown", True)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), "0.5", True, None])
def test_metrics_must_be_finite_numbers(bad):
    with pytest.raises(InputError, match="finite number"):
        validate_metrics({"m": bad})


def test_eval_summaries_keep_their_numbers():
    assert numeric_metrics({"wer": 0.5, "n": 3, "model": "x", "ok": True, "items": [1]}) == {"wer": 0.5, "n": 3.0}
    with pytest.raises(InputError, match="finite number"):
        numeric_metrics({"wer": float("nan")})
    with pytest.raises(InputError, match="no numeric metrics"):
        numeric_metrics({"model": "x"})


def test_build_lineage_needs_a_run_id(tmp_path):
    with pytest.raises(InputError, match="pipeline_run_id"):
        build_lineage(load_profile("local"), "", _data(tmp_path))


def test_model_card_says_what_data_metrics_limits(tmp_path):
    lin = build_lineage(load_profile("local"), "run-7", _data(tmp_path), metrics={"wer": 0.25},
                        gate_report={"passed": False, "reasons": ["wer 0.25 > 0.2"]})
    card = render_model_card("ichigo-x", lin, {"wer": 0.25}, {"speech_tokenizer_backend": "codebook"})
    for heading in ("# ichigo-x", "## What", "## Data", "## Metrics", "## Limits"):
        assert heading in card
    assert "run-7" in card and "| wer | 0.25 |" in card and "did not pass" in card
    assert lin.data_manifests[0].sha256[:16] in card
    assert f"| stage3 | {load_profile('local').training.stages['stage3'].steps} |" in card
