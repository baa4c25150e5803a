from kfp import dsl

from components.runtime import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def register(profile_json: str, run_label: str, candidate: dsl.Input[dsl.Model],
             tokenizer: dsl.Input[dsl.Model], stages: dsl.Input[dsl.Dataset],
             evaluation: dsl.Input[dsl.Artifact], decision: dsl.Input[dsl.Artifact]) -> str:
    """Package the gated candidate and register it in MLflow with full lineage, alias challenger.
    Returns the run summary (JSON) that `ichigo run` prints."""
    import json
    import tempfile
    from pathlib import Path

    from components.runtime import model_dir, profile_from_json, quiet_logs, step_summary
    from ichigo.package import write_package
    from ichigo.registry import build_lineage, register_candidate

    quiet_logs()
    profile = profile_from_json(profile_json)
    dec = json.loads(Path(decision.path, "decision.json").read_text())
    ev = json.loads(Path(evaluation.path, "metrics.json").read_text())
    metrics = ev["candidate"]
    tok = step_summary(tokenizer.path)
    from ichigo.training.determinism import launch_fingerprint

    # the lineage says what a bitwise re-run needs (torch build, CPU ISA, threads per rank)
    lineage = build_lineage(profile, pipeline_run_id=run_label, data_dirs={"stages": stages.path},
                            stage_summaries={**dec["stage_losses"], "determinism": launch_fingerprint()},
                            metrics=metrics)
    with tempfile.TemporaryDirectory() as tmp:
        pkg = write_package(Path(tmp) / "package", model_dir(candidate.path),
                            Path(tokenizer.path) / tok["file"], tok["backend"], lineage=lineage.to_dict())
        reports = sorted(p for p in Path(decision.path).iterdir() if p.suffix in (".html", ".md", ".json"))
        v = register_candidate(profile.registry, pkg, metrics, lineage, reports, None)
    return json.dumps({"registered": True, "model": v.name, "version": v.version, "uri": v.uri,
                       "alias": profile.registry.candidate_alias, **dec, "metrics": metrics,
                       "untrained": ev.get("untrained")})


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def reject(evaluation: dsl.Input[dsl.Artifact], decision: dsl.Input[dsl.Artifact]) -> str:
    """The gate failed: nothing is registered; the summary says why."""
    import json
    from pathlib import Path

    dec = json.loads(Path(decision.path, "decision.json").read_text())
    ev = json.loads(Path(evaluation.path, "metrics.json").read_text())
    print("NOT REGISTERED:\n  " + "\n  ".join(dec["reasons"]))
    return json.dumps({"registered": False, **dec, "metrics": ev["candidate"], "untrained": ev.get("untrained")})
