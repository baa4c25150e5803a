"""Held out means held out: no eval item may share its question text with a training row.

Question texts are compared after normalisation (lower case, punctuation and spaces collapsed),
so "What color is the banana?" and "what colour..." differ but "What color is the banana ?"
and "what color is the banana" match. Training texts are the user turns of every stage row
and the transcription targets (the assistant turn of a transcription row is what was spoken,
i.e. the training question itself).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ichigo.errors import InputError

_PUNCT = re.compile(r"[^\w\s]")


def normalize_question(text: str) -> str:
    return " ".join(_PUNCT.sub(" ", (text or "").lower()).split())


@dataclass
class Overlap:
    benchmark: str
    n_items: int
    shared: list[tuple[str, str]] = field(default_factory=list)  # (item id, question)

    @property
    def fraction(self) -> float:
        return len(self.shared) / self.n_items if self.n_items else 0.0

    def describe(self, limit: int = 5) -> str:
        ex = "; ".join(f"{i}: {q!r}" for i, q in self.shared[:limit])
        return (f"benchmark {self.benchmark!r}: {len(self.shared)} of {self.n_items} items share their "
                f"question with training rows (e.g. {ex})")


def training_questions(stages_dir: str | Path) -> set[str]:
    """Normalised question texts of every training row under `stages_dir/stage*/`. Only the
    `task` and `messages` columns are read: sound codes (most of the bytes) are never loaded."""
    import json

    import pyarrow.parquet as pq

    from ichigo.chat_template import messages_from_json
    from ichigo.files import shard_paths

    root = Path(stages_dir)
    dirs = sorted(d for d in root.glob("stage*") if d.is_dir())
    if not dirs:
        raise InputError(f"no stage datasets (stage*/part-*.parquet) under {root} to check held-out items against")
    seen: set[str] = set()
    for d in dirs:
        for path in shard_paths(d):
            t = pq.read_table(path, columns=["task", "messages"])
            for task, raw in zip(t.column("task").to_pylist(), t.column("messages").to_pylist()):
                if raw is None:
                    continue
                for m in messages_from_json(json.loads(raw)):
                    # a transcription row's reply is what was spoken: the training question itself
                    if m.role == "user" or (task == "transcription" and m.role == "assistant"):
                        norm = normalize_question(m.text)
                        if norm:
                            seen.add(norm)
    return seen


def find_overlap(benchmark: str, questions: Iterable[tuple[str, str]], train: set[str]) -> Overlap:
    qs = list(questions)
    return Overlap(benchmark, len(qs), [(i, q) for i, q in qs if normalize_question(q) in train])
