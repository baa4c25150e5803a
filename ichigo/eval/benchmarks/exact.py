"""Exact-match sets (GSM8K-shaped): `question` and `answer`, where the answer's final value
follows `####` (GSM8K's convention: "... so she has 18 eggs.\n#### 18"). Without `####` the
whole answer is the target. The model's reply is scored on its final answer: the text after its
own `####` if it writes one, else its last number; numbers compare as numbers (1,000 == 1000.0)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ichigo.config.sections import BenchmarkSpec
from ichigo.errors import InputError
from ichigo.eval.benchmarks.files import data_files, field as get, non_empty, read_rows
from ichigo.eval.offline_scorer import normalize_answer

SUFFIX = {"jsonl": (".jsonl",), "parquet": (".parquet",)}
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


@dataclass(frozen=True)
class ExactItem:
    id: str
    question: str
    target: str  # the final answer


def final_answer(text: str) -> str:
    """What follows the last `####`, else the whole text, stripped."""
    text = text or ""
    return text.rsplit("####", 1)[1].strip() if "####" in text else text.strip()


def _number(text: str) -> float | None:
    found = _NUMBER.findall(text or "")
    if not found:
        return None
    try:
        return float(found[-1].replace(",", ""))
    except ValueError:
        return None


def is_correct(reply: str, target: str) -> bool:
    want = _number(target)
    got_text = final_answer(reply)
    if want is not None and _NUMBER.fullmatch(target.strip().replace(" ", "")):
        got = _number(got_text)
        return got is not None and abs(got - want) < 1e-6
    return normalize_answer(got_text) == normalize_answer(target) != ""


def load_exact(spec: BenchmarkSpec, root: Path) -> list[ExactItem]:
    items = []
    for path in data_files(root, SUFFIX[spec.format], spec.split if root.is_dir() else None):
        for n, row in enumerate(read_rows(path), 1):
            where = f"{path} row {n}"
            question = str(get(row, ("question", "problem"), where)).strip()
            answer = str(get(row, ("answer", "solution"), where))
            target = final_answer(answer)
            if not target:
                raise InputError(f"{where}: field 'answer' has nothing after '####'")
            items.append(ExactItem(str(row.get("id") or f"{path.stem}-{n}"), question, target))
    return non_empty(items, spec, str(root))


