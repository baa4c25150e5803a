"""Text retention: k-shot multiple-choice accuracy in the MMLU format, and the relative drop.

The answer is the letter whose token the model finds most likely right after "Answer:"
(`world.format_mc` writes "Answer: B", so the candidates are " A" .. " D" with the space).
No generation and no parsing: the same protocol as the usual MMLU log-likelihood harnesses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from tqdm import tqdm

from ichigo.chat_template import BEGIN_OF_TEXT
from ichigo.data.world import LETTERS
from ichigo.errors import ConfigError, InputError
from ichigo.eval.cache import split_cached
from ichigo.eval.mc import MCItem, k_shot_prompt
from ichigo.eval.scoring import next_token_logprobs


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


def build_context(item: MCItem, pool: list[MCItem], k: int, tokenizer, max_len: int) -> list[int]:
    """BOS + k-shot prompt; shots are dropped (oldest first) until the prompt fits."""
    shots = shots_for(item, pool, k)
    bos = tokenizer.special_id(BEGIN_OF_TEXT)
    while True:
        ids = [bos, *tokenizer.encode_text(k_shot_prompt(item, shots))]
        if len(ids) <= max_len or not shots:
            break
        shots = shots[1:]
    if len(ids) > max_len:
        raise InputError(f"multiple-choice item {item.id} is {len(ids)} tokens even with 0 shots; the "
                         f"model's context is {max_len}")
    return ids


def text_retention(model, tokenizer, items: list[MCItem], shots: list[MCItem], num_shots: int,
                   batch_size: int = 16, cache=None, desc: str = "text retention") -> TextRetentionResult:
    """Accuracy of `model` on `items`; `cache` (an ItemCache) makes it resumable."""
    if not items:
        raise InputError("the multiple-choice set is empty: nothing to measure text retention on")
    cands = letter_ids(tokenizer)
    max_len = getattr(model, "max_seq_len", 4096)
    pad = tokenizer.special_id(BEGIN_OF_TEXT)  # any id: padded positions are never read
    records, todo = split_cached(items, cache)
    bar = tqdm(total=len(items), initial=len(items) - len(todo), desc=desc, unit="q", mininterval=1)
    for s in range(0, len(todo), batch_size * 4):
        chunk = todo[s:s + batch_size * 4]
        ctx = [build_context(it, shots, num_shots, tokenizer, max_len) for it in chunk]
        lp = next_token_logprobs(model, ctx, cands, pad, batch_size)
        for it, row in zip(chunk, lp):
            scores = row[: len(it.choices)].tolist()
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
