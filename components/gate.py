from kfp import dsl

from components.runtime import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def gate(profile_json: str, evaluation: dsl.Input[dsl.Artifact], stage1: dsl.Input[dsl.Model],
         stage2: dsl.Input[dsl.Model], stage3: dsl.Input[dsl.Model],
         decision: dsl.Output[dsl.Artifact], report: dsl.Output[dsl.HTML]) -> bool:
    """Pass/fail from metrics, thresholds, the base model and the current champion; drives dsl.If.
    Writes the decision with every reason and the HTML report (shown in the KFP UI)."""
    import dataclasses
    import shutil
    from pathlib import Path

    from components.runtime import profile_from_json, quiet_logs, step_summary
    from ichigo.artifacts import Decision, read_evaluation, write_decision
    from ichigo.config.recipe import STAGES
    from ichigo.eval.gate import decide
    from ichigo.eval.report import write_report
    from ichigo.registry import champion_metrics
    from ichigo.tracking import tracking_run

    quiet_logs()
    profile = profile_from_json(profile_json)
    ev = read_evaluation(evaluation.path)
    cand, untrained = ev.candidate, ev.untrained
    base = {"text_retention_acc": cand["text_retention_base_acc"]} if "text_retention_base_acc" in cand else None
    try:
        champion = champion_metrics(profile.registry)
    except Exception as e:  # no registry yet is not a reason to block; say so in the report
        print(f"note: could not read the champion's metrics ({e}); gating without them")
        champion = None
    d = decide(cand, profile.eval, base, champion)
    losses = {s: step_summary(a.path).get("losses", []) for s, a in zip(STAGES, (stage1, stage2, stage3))}
    out = Path(decision.path)
    out.mkdir(parents=True, exist_ok=True)
    paths = write_report(out, cand, d, losses, base, champion, untrained)
    write_decision(out, Decision(passed=d.passed, reasons=d.reasons, checks=[dataclasses.asdict(c) for c in d.checks],
                                 stage_losses=losses, champion=champion))
    shutil.copy(paths.html, report.path)
    try:  # the report also goes to MLflow, passed or not, so a rejection is visible there too
        import mlflow

        with tracking_run(profile.registry, "gate", tags={"ichigo.gate.passed": str(d.passed)}) as env:
            client = mlflow.MlflowClient(profile.registry.tracking_uri)
            client.log_batch(env["MLFLOW_RUN_ID"], metrics=[
                mlflow.entities.Metric(k, v, 0, 0) for k, v in ev.numeric().items()])
            client.log_artifacts(env["MLFLOW_RUN_ID"], str(out), "gate_report")
    except Exception as e:  # the KFP artifact is the record of truth; MLflow is a convenience
        print(f"warning: could not log the gate report to MLflow: {e}")
    print(("PASSED" if d.passed else "REJECTED") + ":\n  " + "\n  ".join(d.reasons))
    return bool(d.passed)
