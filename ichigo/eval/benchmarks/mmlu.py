"""MMLU in its two published layouts, as multiple-choice items with their k-shot pool.

- `csv` (the original tarball): `dev/`, `val/`, `test/`, one headerless file per subject named
  `<subject>_<split>.csv`, columns question, A, B, C, D, answer (a letter).
- `parquet` (Hugging Face `cais/mmlu`): files named by split (`test-00000-of-00001.parquet`,
  `dev-...`), columns question, subject, choices (list of 4), answer (index 0-3).

Shots come from `dev` (MMLU's protocol: 5 by default): same-subject rows first. A subject that
has no dev rows takes its shots from the other subjects' dev rows (the prompt's header still
names the item's own subject), see `ichigo.eval.text_retention.shots_for`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from ichigo.config.sections import BenchmarkSpec
from ichigo.world import LETTERS
from ichigo.errors import InputError
from ichigo.eval.benchmarks.files import data_files, field as get, non_empty, read_rows
from ichigo.eval.mc import MCItem


@dataclass
class MCSet:
    items: list[MCItem]
    shots: list[MCItem]  # the k-shot pool (dev)
    notes: list[str] = field(default_factory=list)


def _letter(raw, where: str, n: int = 4) -> int:
    if isinstance(raw, str) and raw.strip().upper() in LETTERS[:n] and len(raw.strip()) == 1:
        return LETTERS.index(raw.strip().upper())
    raise InputError(f"{where}: field 'answer' is {raw!r}, not a letter {LETTERS[0]}-{LETTERS[n - 1]}")


def _csv_subject_files(root: Path, split: str) -> dict[str, Path]:
    d = root / split
    if not d.is_dir():
        return {}
    suffix = f"_{split}.csv"
    return {p.name[: -len(suffix)]: p for p in sorted(d.glob(f"*{suffix}"))}


def read_csv_split(root: Path, split: str) -> list[MCItem]:
    items = []
    for subject, path in _csv_subject_files(root, split).items():
        with path.open(newline="", encoding="utf-8") as f:
            for n, row in enumerate(csv.reader(f), 1):
                where = f"{path} row {n}"
                if not row or not any(c.strip() for c in row):
                    continue
                if len(row) != 6:
                    raise InputError(f"{where}: {len(row)} columns; MMLU CSV rows are question, A, B, "
                                     "C, D, answer")
                question, *choices, answer = row
                for name, v in zip(("question", "A", "B", "C", "D"), (question, *choices)):
                    if not v.strip():
                        raise InputError(f"{where}: field {name!r} is empty")
                items.append(MCItem(id=f"{subject}-{split}-{n}", question=question.strip(),
                                    choices=tuple(c.strip() for c in choices),
                                    answer=_letter(answer, where), subject=subject))
    return items


def _answer_index(raw, n: int, where: str) -> int:
    if isinstance(raw, bool):
        raise InputError(f"{where}: field 'answer' is {raw!r}, not an index 0-{n - 1}")
    if isinstance(raw, int) or (isinstance(raw, float) and raw.is_integer()):
        if 0 <= int(raw) < n:
            return int(raw)
        raise InputError(f"{where}: field 'answer' is {raw!r}, outside the {n} choices (0-{n - 1})")
    return _letter(raw, where, n)


def read_parquet_split(root: Path, split: str) -> list[MCItem]:
    items = []
    for path in data_files(root, (".parquet",), split):
        for n, row in enumerate(read_rows(path), 1):
            where = f"{path} row {n}"
            question = str(get(row, ("question",), where)).strip()
            choices = get(row, ("choices",), where)
            if not isinstance(choices, (list, tuple)) or not 2 <= len(choices) <= len(LETTERS) \
                    or any(not str(c).strip() for c in choices):
                raise InputError(f"{where}: field 'choices' must be a list of 2-{len(LETTERS)} "
                                 f"non-empty strings, got {choices!r}")
            if row.get("answer") is None:
                raise InputError(f"{where}: missing field 'answer'")
            subject = str(row.get("subject") or "")
            items.append(MCItem(id=f"{subject or path.stem}-{split}-{n}", question=question,
                                choices=tuple(str(c) for c in choices),
                                answer=_answer_index(row["answer"], len(choices), where), subject=subject))
    return items


def load_mmlu(spec: BenchmarkSpec, root: Path) -> MCSet:
    read = read_csv_split if spec.format == "csv" else read_parquet_split
    if root.is_file() and spec.format == "csv":
        raise InputError(f"benchmark {spec.name!r}: {root} is a file; the MMLU CSV layout is a folder "
                         "with dev/, val/ and test/")
    items = non_empty(read(root, spec.split), spec, str(root))
    shots = read(root, "dev") if spec.num_shots and spec.split != "dev" else []
    notes = []
    if spec.num_shots:
        with_dev = {s.subject for s in shots}
        lacking = sorted({it.subject for it in items} - with_dev)
        if lacking:
            notes.append(f"subjects without dev rows take shots from other subjects: {', '.join(lacking[:10])}"
                         + (" ..." if len(lacking) > 10 else ""))
        if not shots:
            notes.append("no dev split: 0-shot")
    return MCSet(items, shots, notes)
