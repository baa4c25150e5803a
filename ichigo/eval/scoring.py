"""Batched next-token log-likelihoods from a torchtune decoder (no KV cache needed)."""

from __future__ import annotations

from typing import Sequence

import torch


def next_token_logprobs(model: torch.nn.Module, contexts: Sequence[Sequence[int]],
                        candidates: Sequence[int], pad_id: int, batch_size: int = 16) -> torch.Tensor:
    """log p(candidate | context) for every context: a float tensor [len(contexts), len(candidates)].

    Contexts are right-padded; with a causal decoder the padding cannot influence the last real
    position, which is the one read. Sorting by length keeps padding small.
    """
    device = next(model.parameters()).device
    order = sorted(range(len(contexts)), key=lambda i: len(contexts[i]))
    out = torch.empty(len(contexts), len(candidates))
    cand = torch.tensor(list(candidates), device=device)
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            width = max(len(contexts[i]) for i in idx)
            batch = torch.full((len(idx), width), pad_id, dtype=torch.long)
            for row, i in enumerate(idx):
                batch[row, : len(contexts[i])] = torch.tensor(list(contexts[i]))
            last = torch.tensor([len(contexts[i]) - 1 for i in idx], device=device)
            lp = torch.log_softmax(last_logits(model, batch.to(device), last).float(), -1)
            out[idx] = lp[:, cand].cpu()
    return out


def continuation_logprobs(model: torch.nn.Module, contexts: Sequence[Sequence[int]],
                          continuations: Sequence[Sequence[int]], pad_id: int,
                          batch_size: int = 16) -> list[float]:
    """sum log p(continuation | context) for each (context, continuation) pair (cloze scoring).

    Right-padded like `next_token_logprobs`; only the positions that predict a continuation
    token go through the output projection.
    """
    if len(contexts) != len(continuations):
        raise ValueError(f"{len(contexts)} contexts but {len(continuations)} continuations")
    if any(not c for c in continuations) or any(not c for c in contexts):
        raise ValueError("every context and continuation needs at least one token")
    device = next(model.parameters()).device
    seqs = [list(a) + list(b) for a, b in zip(contexts, continuations)]
    order = sorted(range(len(seqs)), key=lambda i: len(seqs[i]))
    out = [0.0] * len(seqs)
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            width = max(len(seqs[i]) for i in idx)
            batch = torch.full((len(idx), width), pad_id, dtype=torch.long)
            rows, pos, targets, owner = [], [], [], []
            for row, i in enumerate(idx):
                batch[row, : len(seqs[i])] = torch.tensor(seqs[i])
                start = len(contexts[i])
                for j, tok in enumerate(continuations[i]):
                    rows.append(row)
                    pos.append(start + j - 1)  # the position whose logits predict this token
                    targets.append(tok)
                    owner.append(i)
            logits = position_logits(model, batch.to(device), torch.tensor(rows, device=device),
                                     torch.tensor(pos, device=device))
            lp = torch.log_softmax(logits.float(), -1)
            picked = lp[torch.arange(len(targets)), torch.tensor(targets, device=device)].cpu()
            for i, v in zip(owner, picked.tolist()):
                out[i] += v
    return out


def position_logits(model: torch.nn.Module, tokens: torch.Tensor, rows: torch.Tensor,
                    positions: torch.Tensor) -> torch.Tensor:
    """Logits at (rows[k], positions[k]) for every k, [k, vocab]; see `last_logits`."""
    if not all(hasattr(model, a) for a in ("tok_embeddings", "layers", "norm", "output")):
        return model(tokens)[rows, positions]
    h = model.tok_embeddings(tokens)
    for layer in model.layers:
        h = layer(h)  # no mask, no KV cache: plain causal attention
    return model.output(model.norm(h[rows, positions]))


def last_logits(model: torch.nn.Module, tokens: torch.Tensor, last: torch.Tensor) -> torch.Tensor:
    """Logits at position `last[b]` of each row, [b, vocab].

    For a torchtune decoder the output projection runs on those positions only: with a 128k
    vocabulary, full-sequence logits of a 5-shot MMLU batch would take gigabytes.
    """
    rows = torch.arange(tokens.size(0), device=tokens.device)
    return position_logits(model, tokens, rows, last)
