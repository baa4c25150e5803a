"""Deterministic epoch order, sample packing and collation.

Packing follows torchtune's PackedDataset: samples are taken in (shuffled) order and appended to a
bin of `max_seq_len` tokens until the next one does not fit; the rest of the bin is padding that
forms its own "document". Each pack carries `input_pos` (positions restart at 0 for every sample)
and `seq_lens`, from which a block-causal mask is built (a dense bool mask on CPU, a flex-attention
BlockMask on recent GPUs), so a packed sample sees exactly what it would see alone.

One "unit" is what fills one batch slot: a pack (list of sample indices) or a single sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ichigo.chat_template import IGNORE_INDEX
from ichigo.training.data import TokenizedData


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """The same permutation on every rank and on every resume, for a given (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(n)


def pack_units(order: np.ndarray, lengths: np.ndarray, max_seq_len: int) -> list[list[int]]:
    units: list[list[int]] = []
    cur: list[int] = []
    used = 0
    for i in order.tolist():
        n = int(lengths[i])
        if cur and used + n > max_seq_len:
            units.append(cur)
            cur, used = [], 0
        cur.append(i)
        used += n
    if cur:
        units.append(cur)
    return units


def epoch_units(data: TokenizedData, seed: int, epoch: int, pack: bool, max_seq_len: int) -> list[list[int]]:
    order = epoch_order(len(data), seed, epoch)
    if pack:
        return pack_units(order, data.lengths(), max_seq_len)
    return [[int(i)] for i in order]


@dataclass
class Batch:
    tokens: torch.Tensor  # [B, S] long
    targets: torch.Tensor  # [B, S] long, IGNORE_INDEX where no loss
    input_pos: torch.Tensor | None  # [B, S] (packed) or None
    seq_lens: list[torch.Tensor] | None  # per pack: sample lengths (+ padding block)
    num_input_tokens: int  # non-padding tokens
    num_targets: int

    def mask(self, device: torch.device):
        """The attention mask for the model: None (plain causal) when not packed."""
        if self.seq_lens is None:
            return None
        from torchtune.modules.attention_utils import packed_block_causal_mask

        m = packed_block_causal_mask(self.seq_lens)
        return m.to(device) if isinstance(m, torch.Tensor) else m


def collate(units: list[list[int]], data: TokenizedData, pack: bool, max_seq_len: int, pad_id: int) -> Batch:
    if pack:
        s = max_seq_len
    else:
        s = max(int(data.offsets[u[0] + 1] - data.offsets[u[0]]) for u in units)
    b = len(units)
    tokens = np.full((b, s), pad_id, np.int64)
    targets = np.full((b, s), IGNORE_INDEX, np.int64)
    pos = np.zeros((b, s), np.int64) if pack else None
    seq_lens: list[torch.Tensor] | None = [] if pack else None
    n_in = 0
    for r, unit in enumerate(units):
        at = 0
        lens = []
        for i in unit:
            tk, tg = data.sample(i)
            n = len(tk)
            tokens[r, at:at + n] = tk
            targets[r, at:at + n] = tg
            if pos is not None:
                pos[r, at:at + n] = np.arange(n)
            lens.append(n)
            at += n
        n_in += at
        if seq_lens is not None:
            if at < s:  # the padding is its own block, so no real token attends to it
                lens.append(s - at)
                pos[r, at:] = np.arange(s - at)
            seq_lens.append(torch.tensor(lens, dtype=torch.long))
    t = torch.from_numpy(targets)
    return Batch(torch.from_numpy(tokens), t, None if pos is None else torch.from_numpy(pos),
                 seq_lens, n_in, int((t != IGNORE_INDEX).sum()))


def step_slices(step_in_epoch: int, rank: int, world: int, per_device_batch: int,
                grad_accum: int) -> list[slice]:
    """Unit index ranges (into the epoch's unit list) of this rank's micro-batches for one step."""
    per_step = per_device_batch * grad_accum * world
    base = step_in_epoch * per_step
    return [slice(base + (m * world + rank) * per_device_batch,
                  base + (m * world + rank + 1) * per_device_batch) for m in range(grad_accum)]
