"""Stage rows -> token samples (input ids + shifted next-token targets), cached as one flat array.

Targets are shifted per row *before* packing, so the last token of a row never learns to predict
the first token of the next row in its pack: packed and unpacked training see exactly the same
(input, target) pairs. Stage-1 `codes` rows become `sound_only_ids` (every token is a target);
chat rows go through the one chat template with the stage's `train_on_input`.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
from tqdm import tqdm

from ichigo.chat_template import IGNORE_INDEX, ChatTokenizer, sound_only_ids, tokenize_chat
from ichigo.errors import InputError
from ichigo.files import shard_paths
from ichigo.records import StageRow, read_stage_rows


@dataclass
class TokenizedData:
    """All samples of a stage, flat: sample i is tokens[offsets[i]:offsets[i+1]]."""

    tokens: np.ndarray  # int32
    targets: np.ndarray  # int32, IGNORE_INDEX where no loss
    offsets: np.ndarray  # int64, len = n + 1
    truncated: int = 0

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.tokens[a:b], self.targets[a:b]


def row_ids_labels(row: StageRow, tok: ChatTokenizer, train_on_input: bool) -> tuple[list[int], list[int]]:
    if tok.sound is None:
        raise InputError("the model's tokenizer has no sound tokens: extend the vocabulary first "
                         "(ichigo.model.vocab.extend_vocab)")
    if row.codes is not None:
        ids = sound_only_ids(row.codes, tok)
        return ids, list(ids)
    chat = tokenize_chat(row.messages, tok)
    return chat.ids, chat.labels(train_on_input)


def shift_targets(labels: list[int]) -> list[int]:
    """Position t predicts labels[t+1]; the last position predicts nothing."""
    return [*labels[1:], IGNORE_INDEX]


def tokenize_rows(rows: Iterable[StageRow], tok: ChatTokenizer, train_on_input: bool,
                  max_seq_len: int, show_progress: bool = False) -> TokenizedData:
    tokens: list[int] = []
    targets: list[int] = []
    offsets = [0]
    truncated = 0
    for row in tqdm(rows, desc="tokenize", unit="row", disable=not show_progress, mininterval=2):
        ids, labels = row_ids_labels(row, tok, train_on_input)
        tg = shift_targets(labels)
        if len(ids) > max_seq_len:  # truncate: the tail of a too-long row is dropped
            ids, tg = ids[:max_seq_len], tg[:max_seq_len]
            truncated += 1
        if len(ids) < 2:
            continue
        tokens.extend(ids)
        targets.extend(tg)
        offsets.append(len(tokens))
    if len(offsets) == 1:
        raise InputError("the stage dataset has no usable rows")
    return TokenizedData(np.asarray(tokens, np.int32), np.asarray(targets, np.int32),
                         np.asarray(offsets, np.int64), truncated)


def _fingerprint(data_dir: Path, tok_vocab: int, train_on_input: bool, max_seq_len: int) -> str:
    h = hashlib.sha256()
    for p in shard_paths(data_dir):
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    h.update(f"{tok_vocab}:{train_on_input}:{max_seq_len}:v1".encode())
    return h.hexdigest()[:16]


def load_tokenized(data_dir: str | Path, tok, train_on_input: bool, max_seq_len: int,
                   cache_dir: str | Path, build: bool) -> TokenizedData:
    """The cached tokenized stage data. `build=True` (one process) tokenizes and writes the cache
    atomically when it is missing; the others call with build=False after a barrier."""
    data_dir = Path(data_dir)
    key = _fingerprint(data_dir, tok.vocab_size, train_on_input, max_seq_len)
    path = Path(cache_dir) / f"tokens-{key}.npz"
    if build and not path.is_file():
        data = tokenize_rows(read_stage_rows(data_dir), tok, train_on_input, max_seq_len, show_progress=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, tokens=data.tokens, targets=data.targets, offsets=data.offsets,
                 truncated=np.int64(data.truncated))
        os.replace(tmp, path)
        (path.parent / f"tokens-{key}.json").write_text(json.dumps(
            {"data_dir": str(data_dir), "rows": len(data), "tokens": int(len(data.tokens)),
             "truncated": data.truncated}) + "\n")
        return data
    if not path.is_file():
        raise InputError(f"tokenized cache {path} is missing (rank 0 should have written it)")
    z = np.load(path)
    return TokenizedData(z["tokens"], z["targets"], z["offsets"], int(z["truncated"]))
