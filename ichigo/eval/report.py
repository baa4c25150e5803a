"""The evaluation report: Markdown plus one self-contained HTML file (plots as base64 PNG).

Plots: the training loss of each stage, every gate check against its threshold (green pass,
red fail), each metric for the candidate beside the base model, the champion and the untrained
model when given, and text retention per stage (the paper's Table 3). Tables: the gate checks,
one row per benchmark (items, score, 95% interval), the retention curve, and the judge's name
(the offline scorer is labelled so). The PNGs are also written next to the reports (the Markdown links
them); the HTML needs nothing else, so it can be shown as-is in the KFP UI or from MLflow.
"""

from __future__ import annotations

import base64
import html
import io
import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers; set before pyplot is imported
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ichigo.eval.curve import STAGES, curve_drops  # noqa: E402
from ichigo.eval.gate import GateDecision  # noqa: E402

PASS_COLOR, FAIL_COLOR, NEUTRAL = "#2e8b57", "#c0392b", "#7f8c8d"
MODEL_COLORS = {"untrained": "#bdc3c7", "base": "#5d6d7e", "champion": "#d4a017", "candidate": "#2874a6"}
# metric, label, higher is better
DISPLAY: tuple[tuple[str, str, bool], ...] = (
    ("text_retention_acc", "text retention acc (MMLU fmt)", True),
    ("speech_qa_score", "speech QA judge score (0-5)", True),
    ("speech_qa_exact", "speech QA exact match", True),
    ("wer", "WER", False),
    ("cer", "CER", False),
    ("wer_questions", "WER, held-out questions", False),
    ("inaudible_refusal_random", "refusal: random codes", True),
    ("inaudible_refusal_noise", "refusal: real noise", True),
    ("false_refusal", "false refusal", False),
    ("first_token_p50_ms", "first token p50 (ms)", False),
    ("first_token_p95_ms", "first token p95 (ms)", False),
    ("peak_memory_mb", "peak memory (MB)", False),
)


@dataclass
class ReportPaths:
    markdown: Path
    html: Path
    images: dict[str, Path] = field(default_factory=dict)


def _fmt(v) -> str:
    if v is None:
        return "-"
    try:
        v = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(v):
        return "nan"
    return f"{v:.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def plot_losses(stage_losses: dict[str, list[float]]) -> bytes | None:
    stages = [(k, v) for k, v in (stage_losses or {}).items() if v]
    if not stages:
        return None
    fig, axes = plt.subplots(1, len(stages), figsize=(4.2 * len(stages), 3.2), squeeze=False)
    for ax, (name, losses) in zip(axes[0], stages):
        ax.plot(range(1, len(losses) + 1), losses, color=MODEL_COLORS["candidate"], lw=1.4)
        ax.set_title(f"{name}: {losses[0]:.2f} -> {losses[-1]:.2f}", fontsize=10)
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("training loss")
    fig.suptitle("Loss per training stage", fontsize=12)
    fig.tight_layout()
    return _png(fig)


def plot_checks(decision: GateDecision) -> bytes | None:
    checks = decision.checks
    if not checks:
        return None
    cols = 4
    rows = math.ceil(len(checks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 1.9 * rows), squeeze=False)
    for ax in axes.flat[len(checks):]:
        ax.axis("off")
    for ax, c in zip(axes.flat, checks):
        color = PASS_COLOR if c.passed else FAIL_COLOR
        value = c.value if c.value is not None else 0.0
        hi = max(abs(value), abs(c.threshold), 1e-9) * 1.35
        lo = min(0.0, value, c.threshold) * 1.35
        # the passing side of the threshold is shaded, so direction is visible at a glance
        if c.op == "<=":
            ax.axvspan(lo, c.threshold, color=PASS_COLOR, alpha=0.08)
        else:
            ax.axvspan(c.threshold, hi, color=PASS_COLOR, alpha=0.08)
        ax.barh([0], [value], color=color, height=0.5)
        ax.axvline(c.threshold, color="black", ls="--", lw=1.2)
        ax.set_xlim(lo, hi)
        ax.set_yticks([])
        ax.tick_params(axis="x", labelsize=8)
        label = "missing" if c.value is None else _fmt(c.value)
        ax.set_title(f"{c.name}\n{'PASS' if c.passed else 'FAIL'}: {label} (needs {c.op} {_fmt(c.threshold)})",
                     fontsize=9, color=color, fontweight="bold")
    fig.suptitle(f"Gate: {'PASSED' if decision.passed else 'REJECTED'} (dashed line: threshold; "
                 "shaded: passing side; vs_champion: regression on the metric's scale)",
                 fontsize=12, color=PASS_COLOR if decision.passed else FAIL_COLOR)
    fig.tight_layout()
    return _png(fig)


def _models(metrics, base, champion, untrained) -> list[tuple[str, dict]]:
    return [(n, m) for n, m in (("untrained", untrained), ("base", base), ("champion", champion),
                                ("candidate", metrics)) if m]


def plot_comparison(models: list[tuple[str, dict]]) -> bytes | None:
    shown = [(k, label, hib) for k, label, hib in DISPLAY if any(_val(m, k) is not None for _, m in models)]
    if not shown:
        return None
    cols = 4
    rows = math.ceil(len(shown) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.3 * cols, 2.5 * rows), squeeze=False)
    for ax in axes.flat[len(shown):]:
        ax.axis("off")
    for ax, (key, label, higher) in zip(axes.flat, shown):
        names = [n for n, m in models if _val(m, key) is not None]
        vals = [_val(m, key) for n, m in models if _val(m, key) is not None]
        bars = ax.bar(names, vals, color=[MODEL_COLORS[n] for n in names])
        for b, v in zip(bars, vals):
            ax.text(b.get_x() + b.get_width() / 2, b.get_height(), _fmt(v), ha="center", va="bottom",
                    fontsize=8)
        ax.set_title(f"{label} ({'higher' if higher else 'lower'} is better)", fontsize=9)
        ax.tick_params(axis="x", labelsize=8, rotation=20)
        ax.tick_params(axis="y", labelsize=8)
        ax.set_ylim(0, max(max(vals), 1e-9) * 1.25)
    fig.suptitle("Candidate vs base, champion and untrained", fontsize=12)
    fig.tight_layout()
    return _png(fig)


def plot_curve(curve: dict[str, dict[str, float]] | None) -> bytes | None:
    rows = {n: r for n, r in (curve or {}).items() if len(r) >= 2}
    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, row in rows.items():
        xs = [i for i, s in enumerate(STAGES) if s in row]
        ys = [row[STAGES[i]] for i in xs]
        ax.plot(xs, ys, marker="o", lw=1.6, label=name)
        for x, y in zip(xs, ys):
            ax.annotate(f"{y:.3f}", (x, y), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    ax.set_xticks(range(len(STAGES)), ["base", "after stage 1", "after stage 2", "after stage 3"])
    ax.set_ylabel("score")
    ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle("Text retention per stage (cf. the paper's Table 3)", fontsize=12)
    fig.tight_layout()
    return _png(fig)


def _bench_rows(benchmarks: list[dict] | None) -> list[tuple[str, str, str, str, str, str, str]]:
    """(name, kind, metric, items, score, 95% interval, detail) per benchmark."""
    rows = []
    for b in benchmarks or []:
        x = b.get("extra", {})
        detail = []
        if "macro_accuracy" in x:
            detail.append(f"macro {_fmt(x['macro_accuracy'])} over {x.get('subjects')} subjects, "
                          f"{x.get('shots')}-shot, {x.get('format')}")
        if "judge" in x:
            detail.append(f"judge: {x['judge']}; unparseable verdicts {x.get('unparseable_verdicts', 0)}")
        if "cer" in x:
            detail.append(f"CER {_fmt(x['cer'])}")
        detail += list(x.get("notes") or [])
        method = "bootstrap" if b.get("metric") == "judge 0-5" else "Wilson"
        rows.append((str(b["name"]), str(b["kind"]), str(b.get("metric", "")), str(b["n"]), _fmt(b["score"]),
                     f"{_fmt(b['ci_low'])} - {_fmt(b['ci_high'])} ({method})", "; ".join(detail)))
    return rows


def _curve_rows(curve: dict | None) -> list[list[str]]:
    drops = curve_drops(curve or {})
    rows = []
    for name, row in (curve or {}).items():
        cells = [name] + [_fmt(row.get(s)) for s in STAGES]
        d = drops.get(name, {}).get("stage3")
        rows.append(cells + ["-" if d is None else f"{d:.1%}"])
    return rows


def _val(m: dict | None, key: str) -> float | None:
    if not m or m.get(key) is None:
        return None
    try:
        v = float(m[key])
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


def _checks_rows(decision: GateDecision) -> list[tuple[str, str, str, str, bool, str]]:
    return [(c.name, _fmt(c.value), c.op, _fmt(c.threshold), c.passed, c.reason) for c in decision.checks]


def _markdown(decision, models, images: dict[str, Path], extra: dict) -> str:
    lines = [f"# Evaluation report: {'PASSED' if decision.passed else 'REJECTED'}", ""]
    if extra.get("judge"):
        lines += [f"Speech-QA judge: **{extra['judge']}**", ""]
    if not decision.passed:
        lines += ["Failed checks: " + ", ".join(f"`{n}`" for n in decision.failed), ""]
    lines += ["## Gate checks", "", "| check | value | rule | result |", "| --- | --- | --- | --- |"]
    for name, v, op, thr, ok, _ in _checks_rows(decision):
        lines.append(f"| {name} | {v} | {op} {thr} | {'PASS' if ok else '**FAIL**'} |")
    notes = [r for r in decision.reasons if r.startswith("NOTE")]
    if notes:
        lines += [""] + [f"- {n}" for n in notes]
    lines += ["", "## Metrics", "", "| metric | " + " | ".join(n for n, _ in models) + " |",
              "| --- |" + " --- |" * len(models)]
    for key, label, _ in DISPLAY:
        if any(_val(m, key) is not None for _, m in models):
            lines.append(f"| {label} | " + " | ".join(_fmt(_val(m, key)) for _, m in models) + " |")
    lines.append("")
    if extra.get("benchmarks"):
        lines += ["## Benchmarks", "", "| benchmark | kind | metric | items | score | 95% interval | detail |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        lines += ["| " + " | ".join(r) + " |" for r in _bench_rows(extra["benchmarks"])] + [""]
    if extra.get("curve"):
        lines += ["## Text retention per stage", "", "| benchmark | base | stage 1 | stage 2 | stage 3 | drop |",
                  "| --- | --- | --- | --- | --- | --- |"]
        lines += ["| " + " | ".join(r) + " |" for r in _curve_rows(extra["curve"])] + [""]
    if extra.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in extra["notes"]] + [""]
    for title, key in (("Training loss", "losses"), ("Checks", "checks"), ("Comparison", "comparison"),
                       ("Retention per stage", "curve")):
        if key in images:
            lines += [f"## {title}", "", f"![{title}]({images[key].name})", ""]
    return "\n".join(lines)


_CSS = """body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ccc;padding:4px 10px;text-align:right}
th{background:#f2f2f2}td:first-child,th:first-child{text-align:left}
.pass{background:#e3f4ea;color:#1e6b41;font-weight:600}.fail{background:#f9e0dd;color:#962d22;font-weight:600}
.badge{display:inline-block;padding:4px 14px;border-radius:4px;color:#fff;font-weight:700}
img{max-width:100%;border:1px solid #eee;margin:6px 0}.note{color:#666}"""


def _html(decision, models, pngs: dict[str, bytes], extra: dict) -> str:
    e = html.escape
    color = PASS_COLOR if decision.passed else FAIL_COLOR
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>Ichigo evaluation</title>"
           f"<style>{_CSS}</style></head><body>",
           f"<h1>Evaluation report <span class='badge' style='background:{color}'>"
           f"{'PASSED' if decision.passed else 'REJECTED'}</span></h1>"]
    if not decision.passed:
        out.append("<p>Failed checks: " + ", ".join(f"<code>{e(n)}</code>" for n in decision.failed) + "</p>")
    if extra.get("judge"):
        out.append(f"<p>Speech-QA judge: <b>{e(extra['judge'])}</b></p>")
    out.append("<h2>Gate checks</h2><table><tr><th>check</th><th>value</th><th>rule</th><th>result</th>"
               "<th>reason</th></tr>")
    for name, v, op, thr, ok, reason in _checks_rows(decision):
        cls = "pass" if ok else "fail"
        out.append(f"<tr><td>{e(name)}</td><td>{v}</td><td>{e(op)} {thr}</td>"
                   f"<td class='{cls}'>{'PASS' if ok else 'FAIL'}</td><td>{e(reason)}</td></tr>")
    out.append("</table>")
    for n in (r for r in decision.reasons if r.startswith("NOTE")):
        out.append(f"<p class='note'>{e(n)}</p>")
    out.append("<h2>Metrics</h2><table><tr><th>metric</th>" + "".join(f"<th>{e(n)}</th>" for n, _ in models)
               + "</tr>")
    for key, label, _ in DISPLAY:
        if any(_val(m, key) is not None for _, m in models):
            out.append(f"<tr><td>{e(label)}</td>" + "".join(f"<td>{_fmt(_val(m, key))}</td>" for _, m in models)
                       + "</tr>")
    out.append("</table>")
    if extra.get("benchmarks"):
        out.append("<h2>Benchmarks</h2><table><tr><th>benchmark</th><th>kind</th><th>metric</th><th>items</th>"
                   "<th>score</th><th>95% interval</th><th>detail</th></tr>")
        out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in _bench_rows(extra["benchmarks"])]
        out.append("</table>")
    if extra.get("curve"):
        out.append("<h2>Text retention per stage</h2><table><tr><th>benchmark</th><th>base</th><th>stage 1</th>"
                   "<th>stage 2</th><th>stage 3</th><th>relative drop</th></tr>")
        out += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in _curve_rows(extra["curve"])]
        out.append("</table>")
    for n in extra.get("notes") or []:
        out.append(f"<p class='note'>{e(n)}</p>")
    for title, key in (("Training loss per stage", "losses"), ("Checks against thresholds", "checks"),
                       ("Comparison", "comparison"), ("Text retention per stage", "curve")):
        if key in pngs:
            b64 = base64.b64encode(pngs[key]).decode()
            out.append(f"<h2>{title}</h2><img alt='{e(title)}' src='data:image/png;base64,{b64}'>")
    if "losses" not in pngs:
        out.append("<p class='note'>No training losses were given.</p>")
    out.append("</body></html>")
    return "\n".join(out)


def write_report(out_dir: str | Path, metrics: dict, decision: GateDecision,
                 stage_losses: dict[str, list[float]] | None = None, base_metrics: dict | None = None,
                 champion_metrics: dict | None = None, untrained_metrics: dict | None = None,
                 benchmarks: list[dict] | None = None, curve: dict[str, dict[str, float]] | None = None,
                 judge: str | None = None, notes: list[str] | None = None) -> ReportPaths:
    """`benchmarks`: BenchResult summaries; `curve`: {benchmark: {stage: score}}; `judge`: the
    speech-QA judge's name; `notes`: held-out overlaps reported, a judge fallback."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    models = _models(metrics, base_metrics, champion_metrics, untrained_metrics)
    extra = {"benchmarks": benchmarks, "curve": curve, "judge": judge, "notes": notes}
    pngs = {k: v for k, v in (("losses", plot_losses(stage_losses or {})), ("checks", plot_checks(decision)),
                              ("comparison", plot_comparison(models)), ("curve", plot_curve(curve)))
            if v is not None}
    images = {}
    for key, data in pngs.items():
        images[key] = out / f"report_{key}.png"
        images[key].write_bytes(data)
    md, page = out / "report.md", out / "report.html"
    md.write_text(_markdown(decision, models, images, extra))
    page.write_text(_html(decision, models, pngs, extra))
    return ReportPaths(md, page, images)
