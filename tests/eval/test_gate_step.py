"""The gate step itself (the KFP component's function, run in-process): it reads the candidate's
evaluation and the stage-1/2 text evaluations, gates on the final drop, and writes the
retention curve, the benchmark rows and the judge into decision.json (hence the run summary),
the report, and MLflow (one `retention/<benchmark>` metric per stage step)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from ichigo.artifacts import Evaluation, read_decision, write_evaluation, write_text_eval
from ichigo.config import load_profile, with_workdir
from ichigo.config.steps import step_view

CAND = {"text_retention_acc": 0.62, "text_retention_base_acc": 0.694, "text_retention_drop": 0.1066,
        "bench/world_mmlu/score": 0.62, "bench/world_mmlu/base_score": 0.694, "bench/world_mmlu/n": 129.0,
        "speech_qa_score": 2.0, "speech_qa_exact": 0.4, "wer": 0.3, "cer": 0.2, "inaudible_refusal_random": 0.9,
        "inaudible_refusal_noise": 1.0, "false_refusal": 0.0, "first_token_p50_ms": 16.0,
        "first_token_p95_ms": 86.0, "peak_memory_mb": 700.0}
BENCHES = [{"name": "world_mmlu", "kind": "mmlu", "metric": "accuracy", "n": 129, "score": 0.62, "ci_low": 0.53,
            "ci_high": 0.70, "extra": {"macro_accuracy": 0.6, "subjects": 5, "shots": 0, "format": "chat"}},
           {"name": "world_speech_qa", "kind": "speech_qa", "metric": "judge 0-5", "n": 40, "score": 2.0,
            "ci_low": 1.6, "ci_high": 2.4, "extra": {"judge": "offline scorer", "exact": 0.4,
                                                      "unparseable_verdicts": 0}}]


def art(path: Path) -> SimpleNamespace:
    path.mkdir(parents=True, exist_ok=True)
    return SimpleNamespace(path=str(path))


@pytest.mark.slow  # MLflow's sqlite store and matplotlib: a few seconds
def test_gate_step_writes_curve_benchmarks_and_judge(tmp_path):
    from components.gate import gate

    ev = art(tmp_path / "evaluation")
    write_evaluation(ev.path, Evaluation(candidate=CAND, untrained={"speech_qa_score": 0.0}, benchmarks=BENCHES,
                                         notes=["held-out check (report only): ..."]))
    texts = {}
    for stage, score in (("stage1", 0.42), ("stage2", 0.60)):
        texts[stage] = art(tmp_path / f"text_{stage}")
        write_text_eval(texts[stage].path, stage, {"world_mmlu": {"name": "world_mmlu", "score": score, "n": 129}})
    profile = with_workdir(load_profile("local"), tmp_path)
    decision, report = art(tmp_path / "decision"), SimpleNamespace(path=str(tmp_path / "report.html"))
    passed = gate.python_func(settings=step_view(profile, "gate"), evaluation=ev,
                              stage1=art(tmp_path / "s1"), stage2=art(tmp_path / "s2"), stage3=art(tmp_path / "s3"),
                              text_stage1=texts["stage1"], text_stage2=texts["stage2"], decision=decision,
                              report=report)
    assert passed is True  # a 10.7% drop is within the local profile's 25%
    d = read_decision(decision.path)
    assert d.retention_curve == {"world_mmlu": {"base": 0.694, "stage1": 0.42, "stage2": 0.6, "stage3": 0.62}}
    assert [(b["name"], b["n"], b["score"]) for b in d.benchmarks] == [("world_mmlu", 129, 0.62),
                                                                      ("world_speech_qa", 40, 2.0)]
    assert d.judge == "offline scorer" and d.eval_notes == ["held-out check (report only): ..."]
    page = Path(report.path).read_text()
    assert "Text retention per stage" in page and "<b>offline scorer</b>" in page

    import mlflow
    client = mlflow.MlflowClient(profile.registry.tracking_uri)
    run = client.search_runs([client.get_experiment_by_name(profile.registry.experiment).experiment_id])[0]
    hist = client.get_metric_history(run.info.run_id, "retention/world_mmlu")
    assert sorted((m.step, m.value) for m in hist) == [(0, 0.694), (1, 0.42), (2, 0.6), (3, 0.62)]
    assert run.data.tags["ichigo.eval.judge"] == "offline scorer" and run.data.tags["ichigo.gate.passed"] == "True"
    assert run.data.metrics["wer"] == 0.3 and run.info.status == "FINISHED"
    assert {a.path for a in client.list_artifacts(run.info.run_id, "gate_report")} >= {"gate_report/decision.json"}


def test_run_summary_lists_every_benchmark():
    from pipelines.run_local import benchmark_lines
    rows = [{k: b[k] for k in ("name", "kind", "metric", "n", "score", "ci_low", "ci_high")} for b in BENCHES]
    lines = benchmark_lines({"benchmarks": rows, "judge": "offline scorer",
                             "retention_curve": {"world_mmlu": {"base": 0.694, "stage3": 0.62}},
                             "eval_notes": ["judge fell back"]})
    assert lines[0] == "Benchmarks (speech-QA judge: offline scorer):"
    assert "world_mmlu" in lines[1] and "n=129" in lines[1] and "0.620  [0.530, 0.700]" in lines[1]
    assert "world_speech_qa" in lines[2] and "judge 0-5" in lines[2]
    assert lines[3] == "  retention world_mmlu: base 0.694  stage3 0.620" and lines[4] == "  note: judge fell back"
    assert benchmark_lines({}) == []
