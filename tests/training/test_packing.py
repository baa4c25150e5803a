"""Sample packing: bins, labels, and the same per-row loss as unpacked training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ichigo.chat_template import IGNORE_INDEX, PAD, sound_only_ids, tokenize_chat
from ichigo.model.checkpoint import load_pretrained
from ichigo.records import StageRow
from ichigo.training.data import row_ids_labels, tokenize_rows
from ichigo.training.packing import collate, epoch_order, epoch_units, pack_units, step_slices
from ichigo.training.recipe import token_loss_sum
from ichigo.training.synthetic import synthetic_rows


@pytest.fixture(scope="module")
def lm(tiny_llm_dir):
    return load_pretrained(tiny_llm_dir)


def test_stage1_rows_are_sound_only_and_fully_trained(lm):
    row = StageRow("a", "sound_only", codes=[1, 2, 512])
    ids, labels = row_ids_labels(row, lm.tokenizer, train_on_input=False)
    assert ids == sound_only_ids([1, 2, 512], lm.tokenizer) == labels
    assert ids[1:4] == [lm.tokenizer.sound.start_id, lm.tokenizer.sound.code_id(1), lm.tokenizer.sound.code_id(2)]


@pytest.mark.parametrize("train_on_input", [True, False])
def test_targets_are_shifted_labels(lm, train_on_input):
    rows = synthetic_rows("stage2", 12, seed=3)
    data = tokenize_rows(rows, lm.tokenizer, train_on_input, max_seq_len=4096)
    for i, row in enumerate(rows):
        chat = tokenize_chat(row.messages, lm.tokenizer)
        tokens, targets = data.sample(i)
        assert tokens.tolist() == chat.ids
        assert targets.tolist() == chat.labels(train_on_input)[1:] + [IGNORE_INDEX]
        if not train_on_input:  # only assistant tokens are targets
            assert all(t == IGNORE_INDEX or out for t, out in zip(targets[:-1], chat.is_output[1:]))


def test_pack_units_fill_bins_in_order():
    lengths = np.array([50, 60, 30, 100, 20, 128, 5])
    units = pack_units(np.arange(7), lengths, 128)
    assert units == [[0, 1], [2], [3, 4], [5], [6]]
    assert all(sum(lengths[u]) <= 128 for u in units)
    assert sorted(i for u in units for i in u) == list(range(7))
    a, b = epoch_order(100, 0, 0), epoch_order(100, 0, 0)
    assert (a == b).all() and not (a == epoch_order(100, 0, 1)).all()


def test_step_slices_partition_the_global_batch():
    seen = []
    for rank in range(2):
        for s in step_slices(3, rank, 2, per_device_batch=4, grad_accum=2):
            seen.extend(range(s.start, s.stop))
    assert sorted(seen) == list(range(3 * 16, 4 * 16))


def test_packed_batch_layout(lm):
    data = tokenize_rows(synthetic_rows("stage2", 40, seed=1), lm.tokenizer, True, 256)
    units = epoch_units(data, seed=0, epoch=0, pack=True, max_seq_len=256)
    pad = lm.tokenizer.special_id(PAD)
    b = collate(units[:3], data, pack=True, max_seq_len=256, pad_id=pad)
    assert b.tokens.shape == (3, 256)
    for r, unit in enumerate(units[:3]):
        lens = b.seq_lens[r].tolist()
        assert sum(lens) == 256
        at = 0
        for i in unit:
            tk, tg = data.sample(i)
            n = len(tk)
            assert b.tokens[r, at:at + n].tolist() == tk.tolist()
            assert b.targets[r, at:at + n].tolist() == tg.tolist()
            assert b.input_pos[r, at:at + n].tolist() == list(range(n))  # positions restart per row
            at += n
        assert (b.tokens[r, at:] == pad).all() and (b.targets[r, at:] == IGNORE_INDEX).all()
    mask = b.mask(torch.device("cpu"))
    assert mask.shape == (3, 256, 256)
    n0 = len(data.sample(units[0][0])[0])
    assert not mask[0, n0, n0 - 1] and mask[0, n0 - 1, 0]  # row 2 cannot see row 1
    assert b.num_targets == int((b.targets != IGNORE_INDEX).sum())


@torch.no_grad()
def test_packed_and_unpacked_give_the_same_per_row_loss(lm):
    model = lm.model.eval()
    data = tokenize_rows(synthetic_rows("stage2", 24, seed=5), lm.tokenizer, False, 256)
    pad = lm.tokenizer.special_id(PAD)
    units = epoch_units(data, seed=0, epoch=0, pack=True, max_seq_len=256)
    assert any(len(u) >= 2 for u in units)  # real packing happened
    packed = collate(units, data, pack=True, max_seq_len=256, pad_id=pad)
    logits = model(packed.tokens, mask=packed.mask(torch.device("cpu")), input_pos=packed.input_pos)
    for r, unit in enumerate(units):
        at = 0
        for i in unit:
            tk, tg = data.sample(i)
            n = len(tk)
            alone = model(torch.tensor(tk[None], dtype=torch.long))
            tgt = torch.tensor(tg, dtype=torch.long)
            loss_alone = F.cross_entropy(alone[0], tgt, ignore_index=IGNORE_INDEX, reduction="sum")
            loss_packed = F.cross_entropy(logits[r, at:at + n], tgt, ignore_index=IGNORE_INDEX, reduction="sum")
            # fp32 sums of ~100 token losses: different batch shapes reorder the arithmetic
            torch.testing.assert_close(loss_packed, loss_alone, rtol=1e-4, atol=1e-3)
            at += n
    unpacked = collate([[i] for u in units for i in u], data, pack=False, max_seq_len=256, pad_id=pad)
    assert unpacked.input_pos is None and unpacked.mask(torch.device("cpu")) is None
    assert unpacked.num_targets == packed.num_targets
    ref = token_loss_sum(model, unpacked, torch.device("cpu"), 0)
    torch.testing.assert_close(token_loss_sum(model, packed, torch.device("cpu"), 0), ref, rtol=1e-4, atol=1e-2)
    # chunked output + CE (the GPU path) sums to the same value
    model.set_num_output_chunks(4)
    try:
        torch.testing.assert_close(token_loss_sum(model, packed, torch.device("cpu"), 4), ref, rtol=1e-4, atol=1e-2)
    finally:
        model.set_num_output_chunks(0)
