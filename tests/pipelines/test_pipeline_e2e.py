"""The whole pipeline through kfp.local on the smoke profile: every step real, tiny sizes.

One run end to end (registered with alias challenger), then a second run that is served from the
step cache, then a run whose gate threshold cannot be met: the dsl.If branch must not register.
"""

import json
import time

import pytest

from ichigo.config import load_profile, parse_overrides, with_workdir
from pipelines.run_local import format_summary, run_local

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    wd = tmp_path_factory.mktemp("e2e")
    profile = load_profile("smoke")
    return profile, wd, run_local(profile, wd)


def test_pipeline_runs_end_to_end_and_registers_a_challenger(first_run):
    profile, wd, run = first_run
    s = run.summary
    assert run.registered, format_summary(run, profile)
    assert set(s["stage_losses"]) == {"stage1", "stage2", "stage3"}
    assert all(len(v) == profile.training.stages[k].steps for k, v in s["stage_losses"].items())
    names = {c["name"] for c in s["checks"]}
    assert {"wer", "speech_qa_score", "first_token_p95_ms"} <= {n.split(" ")[0] for n in names} or len(names) >= 5
    import mlflow

    uri = with_workdir(profile, wd).registry.tracking_uri
    client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)  # never MLflow's process default
    mv = client.get_model_version_by_alias(profile.registry.model_name, "challenger")
    assert str(mv.version) == str(s["version"])
    text = format_summary(run, profile)
    assert "Registered:" in text and "stage3" in text
    assert "Candidate vs untrained model" in text and "WER" in text


def test_second_run_reuses_cached_steps(first_run):
    profile, wd, run = first_run
    t0 = time.time()
    again = run_local(profile, wd)
    assert again.registered
    # every step came from the cache, so the candidate and its metrics are the same ones
    assert again.summary["metrics"] == run.summary["metrics"]
    assert again.summary["stage_losses"] == run.summary["stage_losses"]
    assert time.time() - t0 < run.seconds / 2, (time.time() - t0, run.seconds)


def test_gate_failure_skips_registration_and_says_why(first_run):
    _, wd, _ = first_run
    strict = load_profile("smoke", parse_overrides(["eval.min_speech_qa_score=5", "eval.max_wer=0.0"]))
    run = run_local(strict, wd)
    assert not run.registered
    reasons = " ".join(run.summary["reasons"]).lower()
    assert "wer" in reasons and "speech_qa" in reasons.replace(" ", "_")
    assert json.loads((wd / "last_run.json").read_text())["registered"] is False
    # only thresholds changed, and no step but the (uncached) gate receives them: every cached
    # step, the evaluation included, was reused under its key (one cache entry each)
    for step in ("evaluate", "evaluate_text_stage1", "train_stage3", "build_datasets"):
        assert len(list((wd / "cache" / step).iterdir())) == 1, step


def test_a_new_stage3_mix_retrains_stage3_only(first_run):
    """Runs after the gate test (same work dir): the speech is not synthesized again, and stages 1
    and 2 key on their own data dirs."""
    profile, wd, _ = first_run
    sources = parse_overrides(['data.inaudible_sources={"random": 1.0}'])
    run = run_local(load_profile("smoke", sources), wd)
    assert run.summary["metrics"]
    entries = {step: len(list((wd / "cache" / step).iterdir())) for step in (
        "tokenize_speech", "build_datasets", "train_stage1", "train_stage2", "train_stage3", "evaluate")}
    assert entries == {"tokenize_speech": 1, "build_datasets": 2, "train_stage1": 1, "train_stage2": 1,
                       "train_stage3": 2, "evaluate": 2}, entries
