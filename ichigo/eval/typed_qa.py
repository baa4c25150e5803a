"""Typed questions: the held-out questions typed in every common casing and punctuation.

A served model once answered "what is the capital of japan" right and "What is the capital of
Japan?" wrong: text understanding must not hinge on how a question is written. Each question is
asked in five forms (as written, lower case, without its final mark, both, shouted) and scored by
normalised exact match, per form and overall.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ichigo.chat_template import Message, tokenize_chat
from ichigo.errors import InputError
from ichigo.eval.generation import reply_all
from ichigo.eval.offline_scorer import exact_match

FORMS = {
    "as_written": lambda t: t,
    "lower": str.lower,
    "no_punct": lambda t: t.rstrip("?.!"),
    "lower_no_punct": lambda t: t.lower().rstrip("?.!"),
    "upper": str.upper,
}


@dataclass(frozen=True)
class TypedItem:
    id: str
    form: str
    text: str
    answer: str


@dataclass
class TypedQAResult:
    exact: float
    by_form: dict[str, float]
    n: int
    predictions: list[dict] = field(default_factory=list)


def typed_items(items: list) -> list[TypedItem]:
    """One item per (distinct question text, form), from EvalItems of kind "qa"."""
    seen: dict[str, str] = {}
    for it in items:
        if it.text.strip() and it.answer.strip():
            seen.setdefault(it.text.strip(), it.answer)
    if not seen:
        raise InputError("typed QA needs eval questions with their text and reference answer")
    return [TypedItem(f"typed-{i}-{form}", form, fn(text), answer)
            for i, (text, answer) in enumerate(sorted(seen.items())) for form, fn in FORMS.items()]


def typed_qa(lm, items: list, max_new_tokens: int, cache=None, batch_size: int = 32) -> TypedQAResult:
    typed = typed_items(items)

    def prompt(it: TypedItem) -> list[int]:
        return tokenize_chat([Message("user", it.text)], lm.tokenizer, add_generation_prompt=True).ids

    def finish(it: TypedItem, reply: str) -> dict:
        return {"form": it.form, "question": it.text, "reference": it.answer, "prediction": reply,
                "exact": exact_match(reply, it.answer)}

    recs = reply_all(lm, typed, prompt, max_new_tokens, finish=finish, cache=cache,
                     desc="typed QA", batch_size=batch_size)
    by_form = {f: sum(r["exact"] for r in recs if r["form"] == f) / max(1, sum(r["form"] == f for r in recs))
               for f in FORMS}
    return TypedQAResult(sum(r["exact"] for r in recs) / len(recs), by_form, len(recs), recs)
