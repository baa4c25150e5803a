"""The one progress follower both backends feed: a step bar plus the caller's `Progress`.

torchrun feeds it rows of metrics.jsonl as the recipe appends them; the TrainJob backend feeds it
the recipe's progress lines from the trainer pod's log (`step_from_line`)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from tqdm import tqdm

from ichigo.training.results import Progress

# the recipe's stdout progress line (rank 0): "[stage2] step 40/300 loss 2.345 ..."
_STEP_RE = re.compile(r"\[(stage\d)\] step (\d+)/(\d+) loss ([0-9.naninf]+)")


def step_from_line(line: str) -> tuple[int, int, dict] | None:
    """(step, total, row) from a recipe progress line, else None."""
    m = _STEP_RE.search(line)
    if not m:
        return None
    return int(m.group(2)), int(m.group(3)), {"loss": float(m.group(4))}


class StepFollower:
    """One bar per stage (closed when the stage ends, so bars never interleave)."""

    def __init__(self, stage: str, total: int, progress: Progress | None = None):
        self.total, self.progress = total, progress
        self.bar = tqdm(total=total, desc=stage, unit="step", dynamic_ncols=True, file=sys.stderr)

    def update(self, step: int, row: dict, total: int | None = None) -> None:
        self.bar.n = step
        if isinstance(row.get("loss"), (int, float)):
            self.bar.set_postfix(loss=f"{row['loss']:.3f}", refresh=False)
        self.bar.refresh()
        if self.progress:
            self.progress(step, total or self.total, row)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> "StepFollower":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class MetricsTail:
    """Follows metrics.jsonl as the recipe appends to it (only whole lines)."""

    def __init__(self, path: Path):
        self.path, self.pos, self.buf = path, 0, ""

    def read(self) -> list[dict]:
        if not self.path.is_file():
            return []
        if self.path.stat().st_size < self.pos:  # rewritten on resume
            self.pos, self.buf = 0, ""
        with open(self.path) as f:
            f.seek(self.pos)
            chunk = f.read()
            self.pos = f.tell()
        self.buf += chunk
        *lines, self.buf = self.buf.split("\n")
        out = []
        for line in lines:
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass
        return out
