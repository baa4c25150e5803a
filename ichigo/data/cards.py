"""Dataset cards: a short Markdown file next to each dataset's manifest.json (MLflow logs it)."""

from __future__ import annotations

import json
from pathlib import Path

from ichigo.files import write_atomic_bytes

CARD_NAME = "DATASET_CARD.md"


def dataset_card_path(directory: str | Path) -> Path:
    return Path(directory) / CARD_NAME


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, (dict, list)):
        s = json.dumps(v, sort_keys=True)
        return s if len(s) < 160 else s[:157] + "..."
    return str(v)


def write_dataset_card(directory: str | Path, title: str, summary: dict, description: str,
                       sections: dict[str, dict] | None = None) -> Path:
    """`sections`: extra titled tables (e.g. ASR-gate drops per voice) shown in full, because
    the summary table shortens long values."""
    lines = [f"# {title}", "", description, "", "| field | value |", "| --- | --- |"]
    lines += [f"| {k} | {_fmt(v).replace('|', '/')} |" for k, v in summary.items()
              if k not in ("histograms",)]
    hist = summary.get("histograms")
    if hist:
        lines += ["", "## Sound-token lengths per row", ""]
        for name, h in hist.items():
            lines.append(f"- {name}: " + ", ".join(f"{e}+: {c}" for e, c in zip(h["edges"], h["counts"]) if c))
    for name, table in (sections or {}).items():
        lines += ["", f"## {name}", "", "| | |", "| --- | --- |"]
        lines += [f"| {str(k).replace('|', '/')} | {_fmt(v).replace('|', '/')} |" for k, v in table.items()]
    lines += ["", "Files: `part-NNNNN.parquet` shards and `manifest.json` in this directory.", ""]
    path = dataset_card_path(directory)
    write_atomic_bytes(path, "\n".join(lines).encode())
    return path
