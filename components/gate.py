from kfp import dsl

from components.runtime import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def gate(profile_json: str, evaluation: dsl.Input[dsl.Artifact], stage1: dsl.Input[dsl.Model],
         stage2: dsl.Input[dsl.Model], stage3: dsl.Input[dsl.Model],
         decision: dsl.Output[dsl.Artifact], report: dsl.Output[dsl.HTML]) -> bool:
    """Pass/fail from metrics, thresholds, the base model and the current champion; drives dsl.If.
    Writes the decision with every reason and the HTML report (shown in the KFP UI)."""
    import dataclasses
    import json
    import shutil
    from pathlib import Path

    from components.runtime import profile_from_json, quiet_logs, step_summary
    from ichigo.eval.report import write_report
    from ichigo.registry.gating import gate_with_champion
    from ichigo.tracking import tracking_run

    quiet_logs()
    profile = profile_from_json(profile_json)
    ev = json.loads(Path(evaluation.path, "metrics.json").read_text())
    cand, untrained = ev["candidate"], ev["untrained"]
    base = {"text_retention_acc": cand["text_retention_base_acc"]} if "text_retention_base_acc" in cand else None
    # no champion yet: judged on thresholds; champion unreadable: fails closed (ichigo.registry.gating)
    d, champion = gate_with_champion(cand, profile.eval, base, profile.registry)
    losses = {s: step_summary(a.path).get("losses", []) for s, a in
              (("stage1", stage1), ("stage2", stage2), ("stage3", stage3))}
    out = Path(decision.path)
    out.mkdir(parents=True, exist_ok=True)
    paths = write_report(out, cand, d, losses, base, champion, untrained)
    (out / "decision.json").write_text(json.dumps(
        {"passed": d.passed, "reasons": d.reasons, "checks": [dataclasses.asdict(c) for c in d.checks],
         "stage_losses": losses, "champion": champion}, indent=2, default=str))
    shutil.copy(paths.html, report.path)
    try:  # the report also goes to MLflow, passed or not, so a rejection is visible there too
        import mlflow

        with tracking_run(profile.registry, "gate", tags={"ichigo.gate.passed": str(d.passed)}) as env:
            client = mlflow.MlflowClient(profile.registry.tracking_uri)
            client.log_batch(env["MLFLOW_RUN_ID"], metrics=[
                mlflow.entities.Metric(k, float(v), 0, 0) for k, v in cand.items()
                if isinstance(v, (int, float)) and v == v])
            client.log_artifacts(env["MLFLOW_RUN_ID"], str(out), "gate_report")
    except Exception as e:  # the KFP artifact is the record of truth; MLflow is a convenience
        print(f"warning: could not log the gate report to MLflow: {e}")
    print(("PASSED" if d.passed else "REJECTED") + ":\n  " + "\n  ".join(d.reasons))
    return bool(d.passed)
