"""The deterministic 0-5 scorer used when no judge endpoint is configured.

Both texts are normalised (lower case, punctuation and the articles a/an/the removed, spaces
collapsed). Then, first rule that applies:

| score | rule |
| --- | --- |
| 5 | prediction == reference |
| 4 | the reference appears as a whole-word span inside the prediction (e.g. "it is paris") |
| 3 | token F1 >= 0.75 |
| 2 | token F1 >= 0.5 |
| 1 | token F1 > 0 (some overlap) |
| 0 | no overlap, an empty answer, or a refusal ("I cannot hear you") to an audible question |

`exact_match` is the 5 case alone (reported as `speech_qa_exact`).
"""

from __future__ import annotations

import re
from collections import Counter

from ichigo.refusal import is_refusal

_PUNCT = re.compile(r"[^\w\s']")
_ARTICLES = {"a", "an", "the"}


def normalize_answer(text: str) -> str:
    words = _PUNCT.sub(" ", (text or "").lower()).split()
    return " ".join(w for w in words if w not in _ARTICLES)


def exact_match(prediction: str, reference: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(reference) != ""


def token_f1(prediction: str, reference: str) -> float:
    p, r = normalize_answer(prediction).split(), normalize_answer(reference).split()
    common = sum((Counter(p) & Counter(r)).values())
    if not p or not r or common == 0:
        return 0.0
    prec, rec = common / len(p), common / len(r)
    return 2 * prec * rec / (prec + rec)


def offline_score(prediction: str, reference: str) -> int:
    pred, ref = normalize_answer(prediction), normalize_answer(reference)
    if not pred or not ref or is_refusal(prediction):
        return 0
    if pred == ref:
        return 5
    if f" {ref} " in f" {pred} ":
        return 4
    f1 = token_f1(prediction, reference)
    return 3 if f1 >= 0.75 else 2 if f1 >= 0.5 else 1 if f1 > 0 else 0
