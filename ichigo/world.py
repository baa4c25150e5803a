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

# Several phrasings per kind, written as people write them (capitals, a question mark), so that
# typed questions look like what the model was trained on. Index 0 is the canonical one. Index 3
# (EVAL_PHRASING) is held out for evaluation: eval questions never share a text with training
# rows, while the fact itself is known (as MMLU's facts are in a base model's web text). With
# three training phrasings per kind a held-out question was transcribed and answered as the
# nearest trained one (typed QA 43%, WER 0.53): many shapes teach the model to key on the subject
# and on what is asked about it rather than on one sentence shape.
TEMPLATES = {
    "color": ["What color is the {x}?", "Tell me the color of the {x}.", "Which color is the {x}?",
              "What is the color of the {x}?",
              "What color does the {x} have?", "Do you know what color the {x} is?",
              "Can you tell me the color of the {x}?", "The {x} is what color?", "Name the color of the {x}.",
              "I wonder what color the {x} is."],
    "capital": ["What is the capital of {x}?", "Name the capital city of {x}.",
                "Which city is the capital of {x}?", "What city is the capital of {x}?",
                "Do you know the capital of {x}?", "Tell me the capital of {x}.", "Which city is {x}'s capital?",
                "Can you name the capital of {x}?", "I need the capital of {x}.",
                "Where is the government of {x}?"],
    "opposite": ["What is the opposite of {x}?", "Tell me the opposite of {x}.",
                 "Give the opposite of the word {x}.", "What is the opposite of the word {x}?",
                 "What word means the opposite of {x}?", "Do you know the opposite of {x}?",
                 "Say the opposite of {x}.", "Which word is the opposite of {x}?",
                 "Can you tell me the opposite of {x}?", "The opposite of {x} is what?"],
    "animal": ["What sound does a {x} make?", "How does a {x} sound?", "What does a {x} say?",
               "What noise does a {x} make?",
               "What sound do you hear from a {x}?", "Which sound does a {x} make?",
               "Tell me the sound a {x} makes.", "Do you know what a {x} says?", "What noise comes from a {x}?",
               "Can you make the sound of a {x}?"],
    "sum": ["What is {a} plus {b}?", "How much is {a} plus {b}?", "Add {a} and {b}.",
            "What do you get when you add {a} and {b}?",
            "What is the sum of {a} and {b}?", "Can you add {a} and {b}?", "{a} plus {b} makes what?",
            "Tell me what {a} plus {b} is.", "How much do {a} and {b} make together?", "Please add {a} and {b}."],
}
EVAL_PHRASING = 3


def train_phrasings(kind: str) -> list[int]:
    return [k for k in range(len(TEMPLATES[kind])) if k != EVAL_PHRASING]


STATEMENTS = {
    "color": "The {x} is {y}.", "capital": "The capital of {x} is {y}.",
    "opposite": "The opposite of {x} is {y}.", "animal": "A {x} says {y}.",
    "sum": "{a} plus {b} is {y}.",
}

# The same facts said in other words. Speech and web text say a thing many ways: the ASR corpus
# and the base model's text use these beside the QA templates, so that neither transcription nor
# text understanding is tied to a handful of sentence shapes (with the templates alone, a held-out
# phrasing was transcribed as the nearest trained one: WER 0.52). They are statements: no eval
# question is among them (the held-out check fails the step otherwise).
PARAPHRASES = {
    "color": ["The color of the {x} is {y}.", "The {x} is usually {y}.", "I would say the {x} is {y}.",
              "Look at the {x}, it is {y}.", "My friend asked about the {x}, and I told her it is {y}."],
    "capital": ["{y} is the capital city of {x}.", "The government of {x} sits in {y}.",
                "If you travel to {x}, visit its capital, {y}.", "{y} is a big city in {x}.",
                "The people of {x} call {y} their capital."],
    "opposite": ["{y} is the opposite of {x}.", "The words {x} and {y} mean opposite things.",
                 "If something is not {x}, it may be {y}.", "Think of {x}, and then think of {y}."],
    "animal": ["You can hear a {x} say {y}.", "The noise a {x} makes is {y}.",
               "When a {x} is happy, it goes {y}.", "Listen, the {x} in the yard just went {y}."],
    "sum": ["{a} and {b} make {y}.", "Adding {b} to {a} gives {y}.", "If I have {a} and get {b} more, I have {y}.",
            "The sum of {a} and {b} is {y}."],
}
# Everyday sentences: the common words between the facts ("what do you", "when", "get", "city",
# "word"), so a listener has heard the glue of a question it was never asked.
EVERYDAY = (
    "When you get home, please call me.", "What do you want to eat tonight?", "I like the color of your coat.",
    "There was a lot of noise in the city today.", "Which word did you mean?", "Tell me a story about a dog.",
    "Can you add this to my list?", "What did you say?", "The train to the city leaves at noon.",
    "Do you know what time it is?", "We walked to the park and sat under a tree.",
    "My sister lives in a small town by the sea.", "Please turn the music down a little.",
    "It is going to rain this afternoon.", "What is the name of that song?", "How many people are coming?",
    "I forgot the word for it.", "Could you say that again, please?", "The children made a lot of noise.",
    "What do you get for your birthday?", "She opened the window to let the air in.",
    "Is it hot or cold outside?", "He reads a book every night before bed.", "Where did you put the keys?",
    "The dog sleeps on the rug by the door.", "I need to buy milk and bread.", "Which city do you live in?",
    "We should leave early to beat the traffic.", "That was the best meal I have had all week.",
    "Let me think about it and get back to you.",
)

# Greetings and small talk: what people say first to a voice assistant. Typed or spoken, these
# get a conversational reply instead of the nearest fact's answer.
SMALL_TALK: tuple[tuple[tuple[str, ...], str], ...] = (
    (("Hello!", "Hi there.", "Hey.", "Good morning.", "Good evening.", "Hello, who are you?",
      "Hi, who am I talking to?"),
     "Hello! I am Ichigo, a voice assistant. Ask me a question."),
    (("What is your name?", "Who are you?", "What are you?", "Tell me about yourself."),
     "I am Ichigo, a voice assistant. I answer short questions."),
    (("How are you?", "How are you doing today?", "How is it going?"),
     "I am doing well, thank you. How can I help you?"),
    (("Thank you!", "Thanks a lot.", "Thank you very much."), "You are welcome."),
    (("Goodbye.", "Bye!", "See you later."), "Goodbye! Talk to you soon."),
    (("What can you do?", "How can you help me?"),
     "I can answer questions about colors, capitals, opposites, animal sounds and sums."),
)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class Fact:
    kind: str
    subject: str  # e.g. "banana", "Japan", or "three+four" for sums
    answer: str

    def question(self, phrasing: int = 0) -> str:
        tpl = TEMPLATES[self.kind][phrasing % len(TEMPLATES[self.kind])]
        if self.kind == "sum":
            a, b = self.subject.split("+")
            return _sentence(tpl.format(a=a, b=b))
        return _sentence(tpl.format(x=self.subject))

    def train_question(self, rng: random.Random) -> str:
        return self.question(rng.choice(train_phrasings(self.kind)))

    def train_questions(self) -> list[str]:
        """Every training phrasing of this fact, canonical first."""
        return [self.question(k) for k in train_phrasings(self.kind)]

    def eval_question(self) -> str:
        return self.question(EVAL_PHRASING)

    def statement(self, paraphrase: int | None = None) -> str:
        """The canonical statement, or paraphrase `k` of PARAPHRASES (cycled)."""
        tpl = STATEMENTS[self.kind] if paraphrase is None else \
            PARAPHRASES[self.kind][paraphrase % len(PARAPHRASES[self.kind])]
        if self.kind == "sum":
            a, b = self.subject.split("+")
            return _sentence(tpl.format(a=a, b=b, y=self.answer))
        return _sentence(tpl.format(x=self.subject, y=self.answer))

    def spoken_text(self, rng: random.Random) -> str:
        """A sentence about this fact for the ASR corpus: a statement (canonical or paraphrased)
        or a training question. Never the held-out eval phrasing."""
        r = rng.random()
        if r < 0.25:
            return self.statement()
        if r < 0.55:
            return self.statement(rng.randrange(len(PARAPHRASES[self.kind])))
        return self.train_question(rng)


def mixed_question(rng: random.Random, facts: list[Fact]) -> str:
    """A training question shape around a subject it is not about ("Which color is the Japan?",
    "Tell me the opposite of cow.", "What is nineteen plus zero?"): for transcription only, never
    a QA row. With every spoken sentence a known fact's, the model wrote a held-out question as
    the memorised sentence its first words suggested ("What is the color of the plum?" ->
    "What is the sum of one and two?", WER 0.47): here the words after the shape cannot be
    guessed from it, only heard. Questions, not statements: a transcript must never state a
    false fact. Never an eval question (those stay held out)."""
    evals = {f.eval_question() for f in facts}
    while True:
        kind = rng.choice(sorted(TEMPLATES))
        tpl = TEMPLATES[kind][rng.choice(train_phrasings(kind))]
        if kind == "sum":
            text = _sentence(tpl.format(a=rng.choice(NUMBER_WORDS), b=rng.choice(NUMBER_WORDS)))
        else:
            other = rng.choice([f for f in facts if f.kind not in (kind, "sum")])
            text = _sentence(tpl.format(x=other.subject))
        if text not in evals:
            return text


def unheard_sentence(rng: random.Random, facts: list[Fact], heard: set[str]) -> str:
    """A sentence for the ASR test split: a paraphrased statement or a question shape around
    another subject (the ASR corpus's own kinds of sentence), whose text is not in `heard` (every
    text a training row speaks or writes). Like LibriSpeech's test-clean beside its training
    sets: the domain and the words are known, the sentence is new, and so is the voice."""
    for _ in range(10_000):
        f = rng.choice(facts)
        text = (f.statement(rng.randrange(len(PARAPHRASES[f.kind]))) if rng.random() < 0.5
                else mixed_question(rng, facts))
        if text not in heard:
            return text
    raise ValueError("every sentence the world can make was heard in training: no ASR test sentence left")


def all_facts() -> list[Fact]:
    facts = [Fact("color", k, v) for k, v in COLORS.items()]
    facts += [Fact("capital", k.title(), v.title()) for k, v in CAPITALS.items()]
    facts += [Fact("opposite", k, v) for k, v in OPPOSITES.items()]
    facts += [Fact("animal", k, v) for k, v in ANIMAL_SOUNDS.items()]
    # small operands only: sums must be memorised (a model this size does not learn arithmetic),
    # and both numbers must be heard right, which makes them a good test of listening
    facts += [Fact("sum", f"{NUMBER_WORDS[a]}+{NUMBER_WORDS[b]}", NUMBER_WORDS[a + b])
              for a in range(1, 6) for b in range(1, 6)]
    return facts


def typed_form(text: str, rng: random.Random) -> str:
    """`text` as someone might type it: as written, all lower case, without the final
    punctuation, or shouted. Training text rows in every form make the typed answer independent of
    casing and punctuation (a model trained on one form answered "What is the capital of Japan?"
    with a wrong city and "what is the capital of japan" right)."""
    # shouting twice as likely as each other form: it is the one whose tokens share nothing with
    # the other forms' (at 8% the typed eval's UPPER CASE form scored 9%, at 20% 21% after the
    # speech stages while the other forms scored 84-85%)
    form = min(rng.randrange(6), 4)
    if form == 0:
        return text
    if form == 1:
        return text.lower()
    if form == 2:
        return text.rstrip("?.!")
    if form == 3:
        return text.lower().rstrip("?.!")
    return text.upper()


def small_talk_pairs() -> list[tuple[str, str]]:
    return [(p, reply) for prompts, reply in SMALL_TALK for p in prompts]


def answer_choices(fact: Fact, facts: list[Fact], rng: random.Random, k: int = 4) -> tuple[list[str], int]:
    """Multiple-choice options: the right answer plus k-1 distinct answers of the same kind."""
    pool = sorted({f.answer for f in facts if f.kind == fact.kind and f.answer != fact.answer})
    options = rng.sample(pool, k - 1) + [fact.answer]
    rng.shuffle(options)
    return options, options.index(fact.answer)


LETTERS = "ABCD"


def format_mc(fact: Fact, options: list[str], answer_idx: int | None) -> str:
    """One item in the MMLU layout; `answer_idx=None` leaves the answer open for the model."""
    lines = [f"Question: {fact.question()}"]
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
        if r < 0.05:
            out.append(rng.choice(EVERYDAY))
        elif r < 0.2:
            out.append(f.statement())
        elif r < 0.35:
            out.append(f.statement(rng.randrange(len(PARAPHRASES[f.kind]))))
        elif r < 0.7:
            out.append(f"Q: {f.train_question(rng)}\nA: {f.answer}.")
        else:
            opts, idx = answer_choices(f, facts, rng)
            out.append(format_mc(f, opts, idx))
    return out
