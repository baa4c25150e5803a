from kfp import dsl

from components.runtime import IMAGE


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate(settings: str, cache_dir: str, candidate: dsl.Input[dsl.Model],
             prepared: dsl.Input[dsl.Model], stages: dsl.Input[dsl.Dataset],
             tokenizer: dsl.Input[dsl.Model], evaluation: dsl.Output[dsl.Artifact],
             metrics: dsl.Output[dsl.Metrics]):
    """The declared benchmarks (text retention, speech QA, ASR), inaudible refusal and first-token
    latency of the candidate, and of the untrained model (base + sound tokens) for comparison.
    Fails first when a benchmark repeats a training question (eval.held_out_check)."""
    from pathlib import Path

    from components.runtime import model_dir, step_profile, step_summary
    from ichigo.artifacts import Evaluation, write_evaluation
    from ichigo.cache import run_step
    from ichigo.eval.run import evaluate_model

    # no gate thresholds among the settings: changing one leaves this step's key (and KFP's) as it was
    profile = step_profile(settings, "evaluate")
    tok_file = Path(tokenizer.path) / step_summary(tokenizer.path)["file"]
    base_dir = Path(prepared.path) / "base"
    eval_dir = Path(stages.path) / "eval"

    def run(out):
        res = {}
        # the base model's text accuracy is measured once, with the candidate; the untrained model
        # (base + new rows) scores text exactly like the base, so it needs no second base pass
        for name, llm, base in (("candidate", model_dir(candidate.path), base_dir if base_dir.is_dir() else None),
                                ("untrained", model_dir(prepared.path), None)):
            r = evaluate_model(profile, llm, eval_dir, tok_file, out / name, base_llm_dir=base,
                               train_dir=stages.path if name == "candidate" else None)
            res[name] = r.metrics
            if name == "candidate":
                res["benchmarks"], res["notes"] = r.benchmarks, r.notes
        return res

    summary = run_step("evaluate", settings,
                       {"candidate": candidate.path, "prepared": prepared.path, "stages": stages.path,
                        "tokenizer": tokenizer.path}, evaluation.path, run, cache_dir or None)
    ev = Evaluation(candidate=summary["candidate"], untrained=summary.get("untrained"),
                    benchmarks=summary.get("benchmarks") or [], notes=summary.get("notes") or [])
    for k, v in ev.numeric().items():
        metrics.log_metric(k, v)
    write_evaluation(evaluation.path, ev)
    evaluation.metadata["cached"] = bool(summary.get("cached"))


@dsl.component(base_image=IMAGE, install_kfp_package=False)
def evaluate_text(settings: str, cache_dir: str, stage: str, model: dsl.Input[dsl.Model],
                  text_eval: dsl.Output[dsl.Artifact]):
    """The text benchmarks (mmlu, mc, exact) of one stage's output: a point of the retention
    curve (the paper's Table 3). Light: log-likelihood scoring, no speech."""
    from components.runtime import model_dir, step_profile
    from ichigo.artifacts import write_text_eval
    from ichigo.cache import run_step
    from ichigo.eval.run import text_curve_point

    profile = step_profile(settings, "evaluate_text")
    summary = run_step(f"evaluate_text_{stage}", settings, {"model": model.path}, text_eval.path,
                       lambda out: {"benchmarks": text_curve_point(profile, model_dir(model.path), out, stage)},
                       cache_dir or None)
    write_text_eval(text_eval.path, stage, summary["benchmarks"])
    text_eval.metadata["cached"] = bool(summary.get("cached"))
