from kfp import dsl

from components.runtime import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def gate(settings: str, evaluation: dsl.Input[dsl.Artifact], stage1: dsl.Input[dsl.Model],
         stage2: dsl.Input[dsl.Model], stage3: dsl.Input[dsl.Model], text_stage1: dsl.Input[dsl.Artifact],
         text_stage2: dsl.Input[dsl.Artifact], decision: dsl.Output[dsl.Artifact],
         report: dsl.Output[dsl.HTML]) -> bool:
    """Pass/fail from metrics, thresholds, the base model and the current champion; drives dsl.If.
    The retention check reads the final (stage 3) drop; the curve over stages goes to the report
    and MLflow. Writes the decision with every reason and the HTML report (shown in the KFP UI)."""
    import dataclasses
    import shutil
    from pathlib import Path

    from components.runtime import quiet_logs, step_profile, step_summary
    from ichigo.artifacts import Decision, read_evaluation, read_text_eval, write_decision
    from ichigo.config.recipe import STAGES
    from ichigo.eval.curve import retention_curve
    from ichigo.eval.report import write_report
    from ichigo.registry.gating import gate_with_champion
    from ichigo.tracking import log_gate

    quiet_logs()
    profile = step_profile(settings, "gate")
    ev = read_evaluation(evaluation.path)
    cand, untrained = ev.candidate, ev.untrained
    curve = retention_curve(cand, {"stage1": read_text_eval(text_stage1.path),
                                   "stage2": read_text_eval(text_stage2.path)})
    judge = next((b["extra"]["judge"] for b in ev.benchmarks if b.get("kind") == "speech_qa"), None)
    base = {"text_retention_acc": cand["text_retention_base_acc"]} if "text_retention_base_acc" in cand else None
    # no champion yet: judged on thresholds; champion unreadable: fails closed (ichigo.registry.gating)
    d, champion = gate_with_champion(cand, profile.eval, base, profile.registry)
    losses = {s: step_summary(a.path).get("losses", []) for s, a in zip(STAGES, (stage1, stage2, stage3))}
    out = Path(decision.path)
    out.mkdir(parents=True, exist_ok=True)
    paths = write_report(out, cand, d, losses, base, champion, untrained, benchmarks=ev.benchmarks, curve=curve,
                         judge=judge, notes=ev.notes)
    # what the run summary (runs/last_run.json) lists per benchmark: name, items, score, interval
    rows = [{k: b[k] for k in ("name", "kind", "metric", "n", "score", "ci_low", "ci_high")} for b in ev.benchmarks]
    write_decision(out, Decision(passed=d.passed, reasons=d.reasons, checks=[dataclasses.asdict(c) for c in d.checks],
                                 stage_losses=losses, champion=champion, benchmarks=rows, retention_curve=curve,
                                 judge=judge, eval_notes=ev.notes))
    shutil.copy(paths.html, report.path)
    try:  # the report also goes to MLflow (ichigo.tracking.log_gate)
        log_gate(profile.registry, d.passed, ev.numeric(), curve, judge, out)
    except Exception as e:  # the KFP artifact is the record of truth; MLflow is a convenience
        print(f"warning: could not log the gate report to MLflow: {e}")
    print(("PASSED" if d.passed else "REJECTED") + ":\n  " + "\n  ".join(d.reasons))
    return bool(d.passed)
