"""Greedy replies to spoken input, batched, through the one chat template.

Evaluation generates thousands of short replies; one at a time the per-step overhead of a small
model dominates, so prompts are left-padded into batches and decoded with torchtune's
`generate` (KV cache, padding-aware masks and positions). `top_k=1` makes its sampler an exact
argmax, i.e. the same greedy decoding as `ichigo.model.generate.stream_generate` (serving);
a test checks that both give identical text.
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torchtune.generation import generate
from torchtune.modules.common_utils import delete_kv_caches
from tqdm import tqdm

from ichigo.chat_template import PAD, tokenize_chat, user_audio
from ichigo.errors import InputError
from ichigo.eval.cache import split_cached


def audio_prompt(lm, codes: Sequence[int], prompt: str | None = None) -> list[int]:
    """Token ids of one user turn holding `codes` (after `prompt`, if any), ready for the reply."""
    if lm.tokenizer.sound is None:
        raise InputError("the model's tokenizer has no sound tokens: evaluate an extended (speech) model")
    return tokenize_chat([user_audio(codes, prompt)], lm.tokenizer, add_generation_prompt=True).ids


def generate_batch(lm, prompts: Sequence[Sequence[int]], max_new_tokens: int) -> list[str]:
    """Greedy replies (stop token excluded, special tokens skipped) for a batch of prompts."""
    tok, model = lm.tokenizer, lm.model
    pad = tok.special_id(PAD)  # never inside a prompt: torchtune treats every pad id as padding
    width = max(len(p) for p in prompts)
    if width + max_new_tokens > model.max_seq_len:
        raise InputError(f"a prompt of {width} tokens + {max_new_tokens} new tokens exceeds the model's "
                         f"context of {model.max_seq_len}")
    device = next(model.parameters()).device
    x = torch.full((len(prompts), width), pad, dtype=torch.long)
    for i, p in enumerate(prompts):
        x[i, width - len(p):] = torch.tensor(list(p))
    model.setup_caches(batch_size=len(prompts), dtype=next(model.parameters()).dtype,
                       decoder_max_seq_len=width + max_new_tokens)
    try:
        with torch.inference_mode():
            out, _ = generate(model, x.to(device), max_generated_tokens=max_new_tokens, pad_id=pad,
                              temperature=1.0, top_k=1, stop_tokens=sorted(tok.stop_ids))
    finally:
        delete_kv_caches(model)
    replies = []
    for row in out[:, width:].tolist():
        stop = next((i for i, t in enumerate(row) if t in tok.stop_ids), len(row))
        replies.append(tok.decode(row[:stop], skip_special=True))
    return replies


def reply_all(lm, items: Sequence, make_prompt: Callable[[object], list[int]], max_new_tokens: int,
              finish: Callable[[object, str], dict] | None = None, cache=None, desc: str = "",
              batch_size: int = 32,
              finish_batch: Callable[[list, list[str]], list[dict]] | None = None) -> list[dict]:
    """For each item: generate a reply to `make_prompt(item)`, then `finish(item, reply)` -> record
    (or `finish_batch(items, replies)` -> records, e.g. to call a judge concurrently).
    Items already in `cache` are not regenerated; new records are cached as each batch ends."""
    if finish_batch is None:
        if finish is None:
            raise ValueError("reply_all needs finish or finish_batch")
        finish_batch = lambda its, replies: [finish(it, r) for it, r in zip(its, replies)]  # noqa: E731
    records, todo = split_cached(items, cache)
    prompts = {}
    for it in todo:
        try:
            prompts[it.id] = make_prompt(it)
        except InputError as e:
            raise InputError(f"eval item {it.id}: {e}") from None
    todo.sort(key=lambda it: len(prompts[it.id]))  # similar lengths share a batch: less padding
    bar = tqdm(total=len(items), initial=len(items) - len(todo), desc=desc, unit="item", mininterval=1)
    for s in range(0, len(todo), batch_size):
        chunk = todo[s:s + batch_size]
        replies = generate_batch(lm, [prompts[it.id] for it in chunk], max_new_tokens)
        done = finish_batch(chunk, [r.strip() for r in replies])
        for it, rec in zip(chunk, done):
            rec = {"id": it.id, **rec}
            records[it.id] = rec
            if cache is not None:
                cache.put(rec)
        bar.update(len(chunk))
    bar.close()
    return [records[it.id] for it in items]
