"""Text retention: k-shot multiple-choice accuracy in the MMLU format, and the relative drop.

Two formulations of the same items, both scored by log-likelihood (no generation, no parsing),
as the usual MMLU harnesses do:
- "letter" (MMLU's own): the options are shown and the answer is the letter whose token the
  model finds most likely right after "Answer:" (" A" .. " D", with the space).
- "cloze": the options are not shown; each choice's text is scored as the continuation of
  "Answer:" and the best per-character log-likelihood wins. Small models that know the facts but
  have not learnt to map an answer to its letter score at chance on "letter"; the cloze form
  measures what they know (the OLMES evaluation standard uses it for such models).
- "chat": the cloze form inside the chat template: the question is the user turn (k-shot
  examples are earlier turns) and each choice is scored as the assistant's reply. For chat
  models whose later training saw only chat turns, as the speech stages do.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

from tqdm import tqdm

from ichigo.chat_template import BEGIN_OF_TEXT, Message, tokenize_chat
from ichigo.world import LETTERS
from ichigo.errors import ConfigError, InputError
from ichigo.eval.cache import split_cached
from ichigo.eval.mc import MCItem, k_shot_prompt
from ichigo.eval.scoring import continuation_logprobs, next_token_logprobs


FORMATS = ("letter", "cloze", "chat")


@dataclass
class TextRetentionResult:
    accuracy: float
    n: int
    predictions: list[dict] = field(default_factory=list)


def letter_ids(tokenizer) -> list[int]:
    """The single token id of " A" .. " D"; a tokenizer that splits them cannot be scored this way."""
    ids = []
    for letter in LETTERS:
        toks = tokenizer.encode_text(" " + letter)
        if len(toks) != 1:
            raise ConfigError(f"the tokenizer splits {' ' + letter!r} into {len(toks)} tokens; "
                              "next-token letter scoring needs one token per answer letter")
        ids.append(toks[0])
    return ids


def shots_for(item: MCItem, pool: list[MCItem], k: int) -> list[MCItem]:
    """Same-subject dev examples first (MMLU's rule), then any others, never the item itself."""
    same = [s for s in pool if s.subject == item.subject and s.id != item.id]
    other = [s for s in pool if s.subject != item.subject and s.id != item.id]
    return (same + other)[:k]


def _prompt_ids(item: MCItem, shots: list[MCItem], tokenizer, fmt: str) -> list[int]:
    if fmt == "chat":  # solved shots are earlier turns; the open question is the last user turn
        msgs = []
        for s in shots:
            msgs += [Message("user", s.question), Message("assistant", s.choices[s.answer])]
        head = f"The following is a question about {item.subject.replace('_', ' ')}.\n\n" if item.subject else ""
        msgs.append(Message("user", head + item.question))
        return tokenize_chat(msgs, tokenizer, add_generation_prompt=True).ids
    return [tokenizer.special_id(BEGIN_OF_TEXT),
            *tokenizer.encode_text(k_shot_prompt(item, shots, cloze=fmt == "cloze"))]


def choice_ids(choice: str, tokenizer, fmt: str) -> list[int]:
    """A choice as scored: after "Answer:" it takes a leading space; a chat reply starts bare."""
    return tokenizer.encode_text(choice if fmt == "chat" else " " + choice)


def build_context(item: MCItem, pool: list[MCItem], k: int, tokenizer, max_len: int,
                  fmt: str = "letter") -> list[int]:
    """The k-shot prompt as token ids; shots are dropped (oldest first) until it fits."""
    shots = shots_for(item, pool, k)
    room = max_len - (0 if fmt == "letter" else max(len(choice_ids(c, tokenizer, fmt)) for c in item.choices))
    while True:
        ids = _prompt_ids(item, shots, tokenizer, fmt)
        if len(ids) <= room or not shots:
            break
        shots = shots[1:]
    if len(ids) > room:
        raise InputError(f"multiple-choice item {item.id} is {len(ids)} tokens even with 0 shots; the "
                         f"model's context is {max_len}")
    return ids


def _letter_scores(model, tokenizer, chunk, shots, num_shots, max_len, pad, batch_size) -> list[list[float]]:
    cands = letter_ids(tokenizer)
    ctx = [build_context(it, shots, num_shots, tokenizer, max_len) for it in chunk]
    lp = next_token_logprobs(model, ctx, cands, pad, batch_size)
    return [row[: len(it.choices)].tolist() for it, row in zip(chunk, lp)]


def _cloze_scores(model, tokenizer, chunk, shots, num_shots, max_len, pad, batch_size,
                  fmt: str = "cloze") -> list[list[float]]:
    """Per-character log-likelihood of each choice (so that long answers are not penalised)."""
    ctx, cont, owner = [], [], []
    for n, it in enumerate(chunk):
        c = build_context(it, shots, num_shots, tokenizer, max_len, fmt)
        for choice in it.choices:
            ctx.append(c)
            cont.append(choice_ids(choice, tokenizer, fmt))
            owner.append((n, max(1, len(choice))))
    lps = continuation_logprobs(model, ctx, cont, pad, batch_size)
    out: list[list[float]] = [[] for _ in chunk]
    for (n, chars), lp in zip(owner, lps):
        out[n].append(lp / chars)
    return out


def text_retention(model, tokenizer, items: list[MCItem], shots: list[MCItem], num_shots: int,
                   batch_size: int = 16, cache=None, desc: str = "text retention",
                   fmt: str = "letter") -> TextRetentionResult:
    """Accuracy of `model` on `items` in formulation `fmt` (see FORMATS); `cache` (an ItemCache)
    makes it resumable."""
    if not items:
        raise InputError("the multiple-choice set is empty: nothing to measure text retention on")
    if fmt not in FORMATS:
        raise ConfigError(f"unknown multiple-choice formulation {fmt!r}: use one of {', '.join(FORMATS)}")
    score = _letter_scores if fmt == "letter" else functools.partial(_cloze_scores, fmt=fmt)
    if fmt == "letter":
        letter_ids(tokenizer)  # fail before any work when the letters are not single tokens
    max_len = getattr(model, "max_seq_len", 4096)
    pad = tokenizer.special_id(BEGIN_OF_TEXT)  # any id: padded positions are never read
    records, todo = split_cached(items, cache)
    bar = tqdm(total=len(items), initial=len(items) - len(todo), desc=desc, unit="q", mininterval=1)
    for s in range(0, len(todo), batch_size * 4):
        chunk = todo[s:s + batch_size * 4]
        for it, scores in zip(chunk, score(model, tokenizer, chunk, shots, num_shots, max_len, pad,
                                           batch_size)):
            pred = max(range(len(scores)), key=scores.__getitem__)
            rec = {"id": it.id, "pred": LETTERS[pred], "answer": LETTERS[it.answer],
                   "correct": pred == it.answer, "logprobs": [round(x, 4) for x in scores]}
            records[it.id] = rec
            if cache is not None:
                cache.put(rec)
        bar.update(len(chunk))
    bar.close()
    preds = [records[it.id] for it in items]
    return TextRetentionResult(sum(p["correct"] for p in preds) / len(preds), len(preds), preds)


def relative_drop(accuracy: float, base_accuracy: float) -> float:
    """(base - candidate) / base, the paper's measure (29.3% -> 8.4%). Negative when the candidate
    is better. A base at 0 leaves nothing to lose: drop 0."""
    if math.isnan(accuracy) or math.isnan(base_accuracy):
        return math.nan
    if base_accuracy <= 0:
        return 0.0
    return (base_accuracy - accuracy) / base_accuracy
