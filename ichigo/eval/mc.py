"""Multiple-choice items in the MMLU layout, and parsing them from rows (the `mc` benchmark kind
reads the files: ichigo.eval.benchmarks.mc).

The layout is exactly `ichigo.world.format_mc` (what the embedded base model was
pre-trained on), so the embedded set and any file-based set are scored the same way:

    Question: what color is the banana?
    A. red
    B. yellow
    ...
    Answer: B

A file row needs `question`, `choices` (2-4 strings) and `answer` (index, letter or the choice
text); optional `id`, `subject` and `split` ("dev" rows are the k-shot examples, as in MMLU).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ichigo.world import LETTERS
from ichigo.errors import InputError


@dataclass(frozen=True)
class MCItem:
    id: str
    question: str  # as printed after "Question: " (the embedded set keeps world's trailing "?")
    choices: tuple[str, ...]
    answer: int
    subject: str = ""


def format_item(item: MCItem, with_answer: bool) -> str:
    lines = [f"Question: {item.question}"]
    lines += [f"{LETTERS[i]}. {c}" for i, c in enumerate(item.choices)]
    lines.append("Answer:" + (f" {LETTERS[item.answer]}" if with_answer else ""))
    return "\n".join(lines)


def format_item_cloze(item: MCItem, with_answer: bool) -> str:
    """The cloze formulation: no options; the answer is the choice's own text."""
    return f"Question: {item.question}\nAnswer:" + (f" {item.choices[item.answer]}" if with_answer else "")


def k_shot_prompt(item: MCItem, shots: list[MCItem], cloze: bool = False) -> str:
    """Solved examples then the open question, blank-line separated (MMLU's k-shot layout).
    MMLU's subject header is added only for items that carry a subject."""
    fmt = format_item_cloze if cloze else format_item
    head = (f"The following are {'' if cloze else 'multiple choice '}questions (with answers) about "
            f"{item.subject.replace('_', ' ')}.\n\n") if item.subject else ""
    return head + "\n\n".join([*(fmt(s, True) for s in shots), fmt(item, False)])


def _answer_index(raw, choices: list[str], where: str) -> int:
    if isinstance(raw, bool):
        raise InputError(f"{where}: answer must be an index, a letter or a choice, not {raw!r}")
    if isinstance(raw, int) or (isinstance(raw, float) and raw.is_integer()):
        idx = int(raw)
    elif isinstance(raw, str) and raw.strip().upper() in LETTERS[: len(choices)] and len(raw.strip()) == 1:
        idx = LETTERS.index(raw.strip().upper())
    elif isinstance(raw, str) and raw in choices:
        idx = choices.index(raw)
    elif isinstance(raw, str) and raw.strip().isdigit():
        idx = int(raw.strip())
    else:
        raise InputError(f"{where}: answer {raw!r} is neither an index, a letter A-D nor one of the choices")
    if not 0 <= idx < len(choices):
        raise InputError(f"{where}: answer index {idx} is outside the {len(choices)} choices")
    return idx


def parse_rows(rows: list[dict], source: str) -> list[tuple[MCItem, str]]:
    """Rows -> (item, split). Every problem names the row and the field to fix."""
    out = []
    for i, r in enumerate(rows, 1):  # row numbers as a person counts them
        where = f"{source} row {i}"
        missing = [k for k in ("question", "choices", "answer") if k not in r or r[k] is None]
        if missing:
            raise InputError(f"{where}: missing {missing}; rows need question, choices and answer")
        choices = r["choices"]
        if isinstance(choices, str):
            try:
                choices = json.loads(choices)
            except json.JSONDecodeError:
                raise InputError(f"{where}: choices must be a list of strings") from None
        if not isinstance(choices, (list, tuple)) or not 2 <= len(choices) <= len(LETTERS):
            raise InputError(f"{where}: choices must be a list of 2-{len(LETTERS)} strings, got {choices!r}")
        choices = [str(c) for c in choices]
        question = str(r["question"]).strip()
        if not question:
            raise InputError(f"{where}: empty question")
        item = MCItem(id=str(r.get("id") or f"{Path(source).stem}-{i}"), question=question,
                      choices=tuple(choices), answer=_answer_index(r["answer"], choices, where),
                      subject=str(r.get("subject") or ""))
        out.append((item, str(r.get("split") or "test")))
    return out
