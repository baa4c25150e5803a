"""A generated Markdown model card: what the model is, what it was trained on, how it scored,
and what it cannot do. Shown as the model version's description in the MLflow UI."""

from __future__ import annotations

from typing import Any, Mapping

from ichigo.registry.lineage import Lineage

# The limits the Ichigo authors name, plus this platform's own.
KNOWN_LIMITS = (
    "Audio longer than ~10 s and conversations beyond 4-5 turns are less stable.",
    "Weak on nonsense audio inside multi-turn conversations.",
    "Languages other than the training data's are unexplored.",
    "Sound tokens come from the packaged speech tokenizer only: a package's LLM and tokenizer "
    "must be served together.",
)


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def render_model_card(model_name: str, lineage: Lineage, metrics: Mapping[str, float],
                      package_info: Mapping[str, Any] | None = None,
                      limits: tuple[str, ...] = KNOWN_LIMITS) -> str:
    info = dict(package_info or {})
    lines = [
        f"# {model_name}",
        "",
        "## What",
        "An Ichigo-style early-fusion speech LLM: speech is turned into discrete sound tokens "
        "(`<|sound_0000|>`..`<|sound_0512|>` between `<|sound_start|>`/`<|sound_end|>`) that one "
        "Llama-3 decoder reads together with text.",
        "",
        f"- profile: `{lineage.profile or 'n/a'}`",
        f"- pipeline run: `{lineage.pipeline_run_id}`",
        f"- code: `{lineage.code.label}`" + (" (uncommitted changes)" if lineage.code.dirty else ""),
    ]
    if info:
        lines.append(f"- speech tokenizer: `{info.get('speech_tokenizer_backend', '?')}`, "
                     f"chat template `{info.get('chat_template', '?')}`")
        base = info.get("base_model") or {}
        if base:
            lines.append(f"- base model: `{base.get('kind', '?')}` `{base.get('base_uri') or base.get('source') or base.get('name', '')}`"
                         f" ({base.get('chat_format', '?')} chat layout, sound tokens from id "
                         f"{base.get('base_vocab_size', '?')})")
    lines += ["", "## Data"]
    if lineage.data_manifests:
        lines += ["| dataset | sha256 |", "| --- | --- |"]
        lines += [f"| `{m.name}` | `{m.sha256[:16]}` |" for m in lineage.data_manifests]
    else:
        lines.append("No data manifests were recorded.")
    if lineage.stage_configs:
        lines += ["", "| stage | steps | global batch | lr | max length |", "| --- | --- | --- | --- | --- |"]
        for name, c in lineage.stage_configs.items():
            lines.append(f"| {name} | {c.get('steps', '?')} | {c.get('global_batch', '?')} | "
                         f"{_fmt(c.get('lr', '?'))} | {c.get('max_seq_len', '?')} |")
    lines += ["", "## Metrics"]
    if metrics:
        lines += ["| metric | value |", "| --- | --- |"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in sorted(metrics.items())]
    else:
        lines.append("No metrics were recorded.")
    gate = lineage.gate_report
    if gate:
        verdict = "passed" if gate.get("passed") else "did not pass"
        lines += ["", f"Release gate: {verdict}."]
        lines += [f"- {r}" for r in gate.get("reasons", [])]
    lines += ["", "## Limits"] + [f"- {x}" for x in limits]
    return "\n".join(lines) + "\n"
