"""The embedded profile's generated world: a small, deterministic bank of facts.

It plays the part that web text plays for Llama-3.1: the base model is pre-trained on these facts
as text (statements, Q/A and multiple-choice items), speech training teaches the model to answer
the same questions when they are spoken, and evaluation checks both (text retention in the MMLU
format, spoken QA on held-out voices).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

NUMBER_WORDS = ("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                "fourteen fifteen sixteen seventeen eighteen nineteen twenty").split()

COLORS = {
    "banana": "yellow", "lemon": "yellow", "sun": "yellow", "corn": "yellow", "canary": "yellow",
    "apple": "red", "tomato": "red", "strawberry": "red", "cherry": "red", "fire truck": "red",
    "grass": "green", "frog": "green", "lime": "green", "leaf": "green", "cucumber": "green",
    "sky": "blue", "ocean": "blue", "blueberry": "blue", "sapphire": "blue", "jeans": "blue",
    "snow": "white", "milk": "white", "cloud": "white", "swan": "white", "salt": "white",
    "coal": "black", "crow": "black", "night": "black", "ink": "black", "tire": "black",
    "orange": "orange", "carrot": "orange", "pumpkin": "orange", "tiger": "orange",
    "chocolate": "brown", "bear": "brown", "coffee": "brown", "tree trunk": "brown",
    "grape": "purple", "plum": "purple", "eggplant": "purple", "violet": "purple",
}
CAPITALS = {
    "france": "paris", "japan": "tokyo", "italy": "rome", "spain": "madrid", "germany": "berlin",
    "egypt": "cairo", "canada": "ottawa", "china": "beijing", "russia": "moscow",
    "greece": "athens", "kenya": "nairobi", "peru": "lima", "norway": "oslo", "cuba": "havana",
    "ireland": "dublin", "austria": "vienna", "poland": "warsaw", "portugal": "lisbon",
    "thailand": "bangkok", "vietnam": "hanoi", "india": "new delhi", "mexico": "mexico city",
    "england": "london", "sweden": "stockholm", "finland": "helsinki", "chile": "santiago",
}
OPPOSITES = {
    "hot": "cold", "big": "small", "fast": "slow", "up": "down", "day": "night", "happy": "sad",
    "open": "closed", "light": "dark", "old": "young", "tall": "short", "wet": "dry",
    "early": "late", "full": "empty", "hard": "soft", "loud": "quiet", "rich": "poor",
    "strong": "weak", "near": "far", "thick": "thin", "clean": "dirty", "left": "right",
    "begin": "end", "win": "lose", "push": "pull", "buy": "sell", "above": "below",
}
ANIMAL_SOUNDS = {
    "dog": "woof", "cat": "meow", "cow": "moo", "duck": "quack", "sheep": "baa", "lion": "roar",
    "pig": "oink", "horse": "neigh", "owl": "hoot", "snake": "hiss", "bee": "buzz",
    "mouse": "squeak", "frog": "ribbit", "rooster": "cock a doodle doo", "wolf": "howl",
}

# Several phrasings per kind, so the model hears varied wording (index 0 is the canonical one).
TEMPLATES = {
    "color": ["what color is the {x}", "tell me the color of the {x}", "which color is the {x}"],
    "capital": ["what is the capital of {x}", "name the capital city of {x}",
                "which city is the capital of {x}"],
    "opposite": ["what is the opposite of {x}", "tell me the opposite of {x}",
                 "give the opposite of the word {x}"],
    "animal": ["what sound does a {x} make", "how does a {x} sound", "what does a {x} say"],
    "sum": ["what is {a} plus {b}", "how much is {a} plus {b}", "add {a} and {b}"],
}
STATEMENTS = {
    "color": "the {x} is {y}.", "capital": "the capital of {x} is {y}.",
    "opposite": "the opposite of {x} is {y}.", "animal": "a {x} says {y}.",
    "sum": "{a} plus {b} is {y}.",
}


@dataclass(frozen=True)
class Fact:
    kind: str
    subject: str  # e.g. "banana", or "three+four" for sums
    answer: str

    def question(self, phrasing: int = 0) -> str:
        tpl = TEMPLATES[self.kind][phrasing % len(TEMPLATES[self.kind])]
        if self.kind == "sum":
            a, b = self.subject.split("+")
            return tpl.format(a=a, b=b)
        return tpl.format(x=self.subject)

    def statement(self) -> str:
        tpl = STATEMENTS[self.kind]
        if self.kind == "sum":
            a, b = self.subject.split("+")
            return tpl.format(a=a, b=b, y=self.answer)
        return tpl.format(x=self.subject, y=self.answer)


def all_facts() -> list[Fact]:
    facts = [Fact("color", k, v) for k, v in COLORS.items()]
    facts += [Fact("capital", k, v) for k, v in CAPITALS.items()]
    facts += [Fact("opposite", k, v) for k, v in OPPOSITES.items()]
    facts += [Fact("animal", k, v) for k, v in ANIMAL_SOUNDS.items()]
    # small operands only: sums must be memorised (a model this size does not learn arithmetic),
    # and both numbers must be heard right, which makes them a good test of listening
    facts += [Fact("sum", f"{NUMBER_WORDS[a]}+{NUMBER_WORDS[b]}", NUMBER_WORDS[a + b])
              for a in range(1, 6) for b in range(1, 6)]
    return facts


def answer_choices(fact: Fact, facts: list[Fact], rng: random.Random, k: int = 4) -> tuple[list[str], int]:
    """Multiple-choice options: the right answer plus k-1 distinct answers of the same kind."""
    pool = sorted({f.answer for f in facts if f.kind == fact.kind and f.answer != fact.answer})
    options = rng.sample(pool, k - 1) + [fact.answer]
    rng.shuffle(options)
    return options, options.index(fact.answer)


LETTERS = "ABCD"


def format_mc(fact: Fact, options: list[str], answer_idx: int | None) -> str:
    """One item in the MMLU layout; `answer_idx=None` leaves the answer open for the model."""
    lines = [f"Question: {fact.question()}?"]
    lines += [f"{LETTERS[i]}. {o}" for i, o in enumerate(options)]
    lines.append("Answer:" + ("" if answer_idx is None else f" {LETTERS[answer_idx]}"))
    return "\n".join(lines)


def pretraining_texts(n: int, seed: int = 0) -> list[str]:
    """A text corpus for the embedded base model: statements, plain Q/A and MC items."""
    rng = random.Random(seed)
    facts = all_facts()
    out = []
    for _ in range(n):
        f = rng.choice(facts)
        r = rng.random()
        if r < 0.35:
            out.append(f.statement())
        elif r < 0.7:
            out.append(f"Q: {f.question(rng.randrange(3))}?\nA: {f.answer}.")
        else:
            opts, idx = answer_choices(f, facts, rng)
            out.append(format_mc(f, opts, idx))
    return out
