from kfp import dsl

from components.runtime import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def register(settings: str, run_label: str, candidate: dsl.Input[dsl.Model],
             tokenizer: dsl.Input[dsl.Model], stages: dsl.Input[dsl.Dataset],
             evaluation: dsl.Input[dsl.Artifact], decision: dsl.Input[dsl.Artifact]) -> str:
    """Package the gated candidate and register it in MLflow with full lineage, alias challenger.
    Returns the run summary (JSON) that `ichigo run` prints."""
    import json
    import tempfile
    from pathlib import Path

    from components.runtime import model_dir, quiet_logs, step_profile, step_summary
    from ichigo.artifacts import read_decision, read_evaluation
    from ichigo.package import write_package
    from ichigo.registry import RegistryClient, build_lineage, register_candidate

    quiet_logs()
    profile = step_profile(settings, "register")
    dec, ev = read_decision(decision.path), read_evaluation(evaluation.path)
    metrics = ev.candidate
    tok = step_summary(tokenizer.path)
    from ichigo.training.determinism import launch_fingerprint

    # the lineage says what a bitwise re-run needs (torch build, CPU ISA, threads per rank)
    lineage = build_lineage(profile, pipeline_run_id=run_label, data_dirs={"stages": stages.path},
                            stage_summaries={**dict(dec.stage_losses), "determinism": launch_fingerprint()},
                            metrics=metrics)
    with tempfile.TemporaryDirectory() as tmp:
        pkg = write_package(Path(tmp) / "package", model_dir(candidate.path),
                            Path(tokenizer.path) / tok["file"], tok["backend"], lineage=lineage.to_dict())
        reports = sorted(p for p in Path(decision.path).iterdir() if p.suffix in (".html", ".md", ".json"))
        v = register_candidate(RegistryClient(profile.registry), pkg, metrics, lineage, reports, None)
    return json.dumps({"registered": True, "model": v.name, "version": v.version, "uri": v.uri,
                       "alias": profile.registry.candidate_alias, **dec.to_dict(), "metrics": metrics,
                       "untrained": ev.untrained}, default=str)


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def reject(evaluation: dsl.Input[dsl.Artifact], decision: dsl.Input[dsl.Artifact]) -> str:
    """The gate failed: nothing is registered; the summary says why."""
    import json

    from ichigo.artifacts import read_decision, read_evaluation

    dec, ev = read_decision(decision.path), read_evaluation(evaluation.path)
    print("NOT REGISTERED:\n  " + "\n  ".join(dec.reasons))
    return json.dumps({"registered": False, **dec.to_dict(), "metrics": ev.candidate, "untrained": ev.untrained},
                      default=str)
