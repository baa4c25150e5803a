"""Run the whole pipeline on this machine with kfp.local (the embedded profile's main job)."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ichigo.config import Profile, with_workdir


@dataclass
class LocalRun:
    summary: dict
    seconds: float
    workdir: Path

    @property
    def registered(self) -> bool:
        return bool(self.summary.get("registered"))


def run_local(profile: Profile, workdir: str | Path, use_cache: bool = True, verbose: bool = False) -> LocalRun:
    """Run the pipeline with kfp.local. Quiet unless `verbose`: one line per step on the console,
    each step's full output in `<workdir>/logs/<step>.log` (pipelines.quiet)."""
    import contextlib
    import warnings

    from pipelines.quiet import StepConsole

    from kfp import local

    # display names and kfp-kubernetes settings are for the KFP UI / cluster; locally they are noise
    warnings.filterwarnings("ignore", message=".*have no effect in the current local runner.*")

    from pipelines.ichigo_pipeline import ichigo_pipeline, pipeline_arguments

    t0 = time.time()
    wd = Path(workdir).resolve()
    wd.mkdir(parents=True, exist_ok=True)
    profile = with_workdir(profile, wd)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(wd / "kfp"),
               raise_on_error=True)
    label = time.strftime("local-%Y%m%d-%H%M%S")
    if verbose:
        stream = contextlib.nullcontext()
    else:
        console = StepConsole(wd / "logs")
        console.console.write(f"Ichigo pipeline ({profile.name} profile); step logs in {wd / 'logs'}\n")
        stream = console.installed()
    with stream:
        task = ichigo_pipeline(cache_dir=str(wd / "cache") if use_cache else "", run_label=label,
                               **pipeline_arguments(profile))
    summary = json.loads(task.output)
    summary["run_label"] = label
    summary["sources"] = run_sources(wd / "kfp")
    run = LocalRun(summary, time.time() - t0, wd)
    (wd / "last_run.json").write_text(json.dumps(summary, indent=2, default=str))
    return run


def run_sources(pipeline_root: Path) -> list[dict]:
    """Every data source of the newest run (name, kind, rows used, rows skipped by reason), from
    the synthesize-speech step's summary in kfp.local's `<root>/<run>/<task>/<output>` tree."""
    from ichigo.cache import STEP_FILE

    runs = sorted((p for p in pipeline_root.glob("*") if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for run in reversed(runs):
        for f in run.glob(f"merge-speech-corpus/*/{STEP_FILE}"):
            return json.loads(f.read_text())["summary"].get("sources", [])
    return []


def source_lines(sources: list[dict]) -> list[str]:
    if not sources:
        return []
    lines = ["Data sources (rows used; skipped by reason):"]
    for s in sources:
        skipped = ", ".join(f"{k} {v}" for k, v in s.get("skipped", {}).items()) or "none"
        lines.append(f"  {s['name']:<20} {s['kind']:<9} {s['used']:>9,} used; skipped: {skipped}")
    return lines


# (metric, label, higher is better) for the candidate-vs-untrained table
VS_UNTRAINED = (("speech_qa_score", "speech-QA judge score (0-5)", True),
                ("speech_qa_exact", "speech-QA exact answers", True),
                ("typed_qa_exact", "typed-QA exact (any casing)", True),
                ("wer", "WER", False), ("cer", "CER", False),
                ("wer_questions", "WER, held-out questions", False),
                ("inaudible_refusal_random", "refusal, random codes", True),
                ("inaudible_refusal_noise", "refusal, real noise", True),
                ("text_retention_acc", "text MC accuracy (chance 0.25)", True))


def untrained_lines(candidate: dict, untrained: dict | None) -> list[str]:
    """Candidate vs the untrained model (base + sound tokens) on every learnt metric. Text MC is
    the base model's own score for the untrained model, so there it reads as retention."""
    if not untrained:
        return []
    lines = ["Candidate vs untrained model (base + sound tokens):"]
    for key, label, higher in VS_UNTRAINED:
        c, u = candidate.get(key), untrained.get(key)
        if not isinstance(c, (int, float)) or not isinstance(u, (int, float)):
            continue
        if key == "text_retention_acc":  # the untrained model's text score is the base's
            mark = f"{c / u:.0%} of the base's" if u > 0 else ""
        else:
            mark = "better" if (c > u if higher else c < u) else "NOT better"
        lines.append(f"  {label:<32} {c:>8.3f}  vs {u:>8.3f}   {mark}")
    if isinstance(candidate.get("false_refusal"), (int, float)):
        lines.append(f"  {'false refusals (lower is better)':<32} {candidate['false_refusal']:>8.3f}  "
                     f"vs {untrained.get('false_refusal', float('nan')):>8.3f}")
    return lines


def benchmark_lines(s: dict) -> list[str]:
    """One line per benchmark (items, score, 95% interval), the judge, and the retention curve."""
    lines = []
    if s.get("benchmarks"):
        lines.append(f"Benchmarks (speech-QA judge: {s.get('judge') or '-'}):")
        for b in s["benchmarks"]:
            lines.append(f"  {b['name']:<24} {b['metric']:<10} n={b['n']:<6} {b['score']:.3f}  "
                         f"[{b['ci_low']:.3f}, {b['ci_high']:.3f}]")
    for name, row in (s.get("retention_curve") or {}).items():
        pts = "  ".join(f"{k} {v:.3f}" for k, v in row.items())
        lines.append(f"  retention {name}: {pts}")
    lines += [f"  note: {n}" for n in s.get("eval_notes") or []]
    return lines


def family_lines(metrics: dict) -> list[str]:
    """Spoken-QA exact and WER per held-out voice family (families training never heard)."""
    from ichigo.eval.by_family import family_table

    table = family_table(metrics)
    if not table:
        return []
    lines = ["Held-out voice families (never trained on):"] + ["  " + row for row in table.splitlines()]
    if "speech_qa_exact_mean_family" in metrics:
        lines.append(f"  mean over families {metrics['speech_qa_exact_mean_family']:.1%}, lowest "
                     f"{metrics.get('speech_qa_exact_min_family', float('nan')):.1%}")
    return lines


def format_summary(run: LocalRun, profile: Profile) -> str:
    s = run.summary
    lines = ["", "=" * 72, f"Ichigo pipeline ({profile.name} profile) finished in {run.seconds / 60:.1f} min", "=" * 72,
             "Training loss per stage (first -> final):"]
    for stage, losses in (s.get("stage_losses") or {}).items():
        if losses:
            lines.append(f"  {stage}: {losses[0]:.3f} -> {losses[-1]:.3f}  ({len(losses)} steps)")
    lines += source_lines(s.get("sources") or [])
    lines.append("Evaluation (candidate vs threshold):")
    for c in s.get("checks", []):
        mark = "PASS" if c.get("passed") else "FAIL"
        val, thr = c.get("value"), c.get("threshold")
        fmt = (lambda x: f"{x:.4g}" if isinstance(x, (int, float)) else str(x))
        lines.append(f"  [{mark}] {c.get('name'):<32} {fmt(val):>10} {c.get('op', '')} {fmt(thr)}")
    lines += benchmark_lines(s)
    lines += family_lines(s.get("metrics") or {})
    lines += untrained_lines(s.get("metrics") or {}, s.get("untrained"))
    if s.get("registered"):
        lines.append(f"Registered: {s['model']} version {s['version']} (alias '{s['alias']}')  {s.get('uri', '')}")
    else:
        lines.append("NOT registered — the gate rejected the candidate:")
        lines += [f"  - {r}" for r in s.get("reasons", [])]
    lines.append(f"Artifacts and MLflow store: {run.workdir}")
    return "\n".join(lines)
