"""Token-by-token generation with a KV cache, as an iterator (serving streams it as it comes)."""

from __future__ import annotations

import threading
from typing import Iterator, Sequence

import torch
from torchtune.modules import TransformerDecoder
from torchtune.modules.common_utils import delete_kv_caches

from ichigo.errors import InputError

# torchtune's KV caches live on the module: one generation at a time per model instance.
_LOCKS: dict[int, threading.Lock] = {}


def _lock_for(model: torch.nn.Module) -> threading.Lock:
    return _LOCKS.setdefault(id(model), threading.Lock())


def _pick(logits: torch.Tensor, temperature: float, top_k: int | None, gen: torch.Generator | None) -> int:
    if temperature <= 0:
        return int(logits.argmax(-1))
    logits = logits / temperature
    if top_k:
        v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
        logits = torch.where(logits < v[-1], torch.full_like(logits, -float("inf")), logits)
    return int(torch.multinomial(torch.softmax(logits, -1), 1, generator=gen))


def stream_generate(model: TransformerDecoder, prompt: Sequence[int], max_new_tokens: int,
                    stop_ids: set[int], temperature: float = 0.0, top_k: int | None = None,
                    seed: int | None = None) -> Iterator[int]:
    """Yields generated ids; a stop id is yielded last (callers usually drop it)."""
    if not prompt:
        raise InputError("empty prompt")
    total = len(prompt) + max_new_tokens
    if total > model.max_seq_len:
        raise InputError(f"prompt of {len(prompt)} tokens + {max_new_tokens} new tokens exceeds the "
                         f"model's context of {model.max_seq_len}; shorten the input")
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    dtype = next(model.parameters()).dtype
    device = next(model.parameters()).device
    with _lock_for(model), torch.inference_mode():
        model.setup_caches(batch_size=1, dtype=dtype, decoder_max_seq_len=total)
        try:
            mask = torch.tril(torch.ones(total, total, dtype=torch.bool, device=device))[None]
            n = len(prompt)
            x = torch.tensor([list(prompt)], device=device)
            logits = model(x, input_pos=torch.arange(n, device=device)[None], mask=mask[:, :n])[0, -1]
            for i in range(max_new_tokens):
                tok = _pick(logits.float(), temperature, top_k, gen)
                yield tok
                if tok in stop_ids:
                    return
                p = n + i
                logits = model(torch.tensor([[tok]], device=device),
                               input_pos=torch.tensor([[p]], device=device), mask=mask[:, p:p + 1])[0, -1]
        finally:
            delete_kv_caches(model)


def generate_text(model: TransformerDecoder, tokenizer, prompt: Sequence[int], max_new_tokens: int,
                  **kw) -> str:
    ids = [t for t in stream_generate(model, prompt, max_new_tokens, tokenizer.stop_ids, **kw)
           if t not in tokenizer.stop_ids]
    return tokenizer.decode(ids, skip_special=True)
