"""Inaudible robustness: the model should refuse random sound codes and real noise, and should
not refuse real questions (false refusals).

Random inputs follow the recipe: uniformly random sequences over the 513 sound codes with lengths
drawn from the real queries' length distribution (so length alone gives nothing away).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Sequence

from ichigo.errors import InputError
from ichigo.eval.generation import audio_prompt, reply_all
from ichigo.refusal import is_refusal
from ichigo.sound_tokens import NUM_SOUND_TOKENS


@dataclass(frozen=True)
class CodesItem:
    id: str
    codes: list[int]


def random_code_items(query_lengths: Sequence[int], n: int, seed: int = 0) -> list[CodesItem]:
    if not query_lengths or min(query_lengths) < 1:
        raise InputError("random inaudible inputs need the lengths of real (non-empty) queries")
    rng = random.Random(seed)
    out = []
    for i in range(n):
        length = rng.choice(list(query_lengths))
        out.append(CodesItem(f"random-{i}", [rng.randrange(NUM_SOUND_TOKENS) for _ in range(length)]))
    return out


def refusal_rate(answers: Sequence[str]) -> float:
    if not answers:
        raise InputError("no answers to compute a refusal rate on")
    return sum(is_refusal(a) for a in answers) / len(answers)


@dataclass
class RefusalResult:
    rate: float
    n: int
    predictions: list[dict] = field(default_factory=list)


def refusal_eval(lm, items: Sequence, max_new_tokens: int, cache=None, desc: str = "inaudible",
                 batch_size: int = 32) -> RefusalResult:
    """Refusal rate of the model's replies to `items` (anything with `id` and `codes`)."""
    if not items:
        raise InputError(f"the {desc} set is empty")
    empty = [it.id for it in items if not it.codes]
    if empty:
        raise InputError(f"{desc} items without sound codes: {empty[:5]}")

    def finish(it, answer: str) -> dict:
        return {"prediction": answer, "refused": is_refusal(answer), "n_codes": len(it.codes)}

    recs = reply_all(lm, list(items), lambda it: audio_prompt(lm, it.codes), max_new_tokens, finish,
                     cache, desc, batch_size)
    return RefusalResult(refusal_rate([r["prediction"] for r in recs]), len(recs), recs)
