"""The embedded profile's text-retention set: MMLU-format questions about the generated world.

The embedded base model learnt these facts as text; a speech-trained model that forgot them
scores lower, which is what the paper's MMLU comparison measures. Deterministic for a seed:
every fact appears at most once, the first `num_shots` facts are the dev (k-shot) examples.
"""

from __future__ import annotations

import random

from ichigo.data import world
from ichigo.eval.mc import MCItem


def embedded_mc_set(n_items: int, num_shots: int, seed: int = 0) -> tuple[list[MCItem], list[MCItem]]:
    facts = world.all_facts()
    rng = random.Random(seed)
    order = list(range(len(facts)))
    rng.shuffle(order)
    chosen = [facts[i] for i in order[: num_shots + n_items]]
    items = []
    for i, f in enumerate(chosen):
        options, idx = world.answer_choices(f, facts, rng)
        items.append(MCItem(id=f"world-{f.kind}-{f.subject}", question=f.question(),
                            choices=tuple(options), answer=idx))
    return items[:num_shots], items[num_shots:]
