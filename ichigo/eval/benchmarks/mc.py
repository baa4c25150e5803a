"""Generic multiple-choice sets (GPQA-shaped): rows with `question` plus either `choices` (a list)
and `answer` (index, letter or the choice's text), or GPQA's own columns `Question`,
`Correct Answer`, `Incorrect Answer 1..3` (the options are then shuffled with a fixed seed per
row, so the right letter is not always A). Formats jsonl, parquet, csv (with header)."""

from __future__ import annotations

import random
from pathlib import Path

from ichigo.config.sections import BenchmarkSpec
from ichigo.errors import InputError
from ichigo.eval.benchmarks.files import data_files, field as get, non_empty, read_rows
from ichigo.eval.benchmarks.mmlu import MCSet
from ichigo.eval.mc import parse_rows

SUFFIX = {"jsonl": (".jsonl",), "parquet": (".parquet",), "csv": (".csv",)}


def _gpqa_row(row: dict, where: str, seed: int) -> dict:
    right = str(get(row, ("Correct Answer",), where)).strip()
    wrong = [str(get(row, (f"Incorrect Answer {k}",), where)).strip() for k in (1, 2, 3)]
    options = [right, *wrong]
    random.Random(f"{seed}:{where}").shuffle(options)
    return {"id": row.get("Record ID"), "question": get(row, ("Question",), where), "choices": options,
            "answer": options.index(right), "subject": row.get("Subdomain") or row.get("subject")}


def load_mc(spec: BenchmarkSpec, root: Path, seed: int = 0) -> MCSet:
    items, shots = [], []
    for path in data_files(root, SUFFIX[spec.format], spec.split if root.is_dir() else None):
        rows = read_rows(path)
        if rows and "Correct Answer" in rows[0]:
            rows = [_gpqa_row(r, f"{path} row {n}", seed) for n, r in enumerate(rows, 1)]
        for it, split in parse_rows(rows, str(path)):
            (shots if split == "dev" else items).append(it)
    if not items and shots:
        raise InputError(f"benchmark {spec.name!r}: {root} holds only dev rows")
    return MCSet(non_empty(items, spec, str(root)), shots)
