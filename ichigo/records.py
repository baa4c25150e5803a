"""Row types that flow between data building, training and evaluation, and their Parquet form.

Stage datasets are directories of `part-NNNNN.parquet` shards plus `manifest.json`. Every row has a
`task` (e.g. sound_only, speech_qa, transcription, text, two_turn, four_turn, inaudible) and either
`codes` (stage 1: sound-only sequences) or `messages` (chat rows in `messages_to_json` form, stored
as a JSON string so that Parquet needs no nested schema).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from ichigo import durable
from ichigo.chat_template import Message, messages_from_json, messages_to_json
from ichigo.files import shard_paths

STAGE_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("task", pa.string()),
    ("codes", pa.list_(pa.int16())),
    ("messages", pa.string()),
])


@dataclass
class StageRow:
    id: str
    task: str
    codes: list[int] | None = None
    messages: list[Message] | None = None

    def __post_init__(self) -> None:
        if (self.codes is None) == (self.messages is None):
            raise ValueError(f"row {self.id}: exactly one of codes / messages must be set")


def stage_rows_to_table(rows: Sequence[StageRow]) -> pa.Table:
    return pa.Table.from_pylist([
        {"id": r.id, "task": r.task, "codes": r.codes,
         "messages": None if r.messages is None else json.dumps(messages_to_json(r.messages))}
        for r in rows], schema=STAGE_SCHEMA)


def write_stage_shard(rows: Sequence[StageRow], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(stage_rows_to_table(rows), tmp)
    durable.publish(tmp, path)


def read_stage_rows(directory: Path) -> Iterator[StageRow]:
    for p in shard_paths(directory):
        for rec in pq.read_table(p).to_pylist():
            yield StageRow(
                id=rec["id"], task=rec["task"], codes=rec["codes"],
                messages=None if rec["messages"] is None else messages_from_json(json.loads(rec["messages"])))


# Evaluation items (held-out voices): spoken questions with references, noise clips, and (the
# embedded world) an ASR test split, each kind in its own file of the data step's eval dir.
EVAL_ASR_FILE = "asr.parquet"  # kind "asr": sentences no training row holds, for WER
EVAL_SCHEMA = pa.schema([
    ("id", pa.string()),
    ("kind", pa.string()),  # "qa" (spoken question with reference answer), "noise" or "asr"
    ("text", pa.string()),  # what was spoken ("" for noise)
    ("answer", pa.string()),  # reference answer ("" for noise)
    ("voice", pa.string()),
    ("codes", pa.list_(pa.int16())),
    ("audio_wav", pa.binary()),  # 16 kHz mono WAV bytes (for latency: tokenizer + first token)
    ("family", pa.string()),  # voice family: metrics are also reported per family
])


@dataclass
class EvalItem:
    id: str
    kind: str
    text: str
    answer: str
    voice: str
    codes: list[int]
    audio_wav: bytes = field(default=b"", repr=False)
    family: str = ""


def write_eval_items(items: Iterable[EvalItem], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(pa.Table.from_pylist([vars(i) for i in items], schema=EVAL_SCHEMA), tmp)
    durable.publish(tmp, path)


def read_eval_items(path: Path) -> list[EvalItem]:
    if not Path(path).is_file():
        raise FileNotFoundError(f"eval set {path} does not exist")
    # files written before `family` existed read with family ""
    return [EvalItem(**r) for r in pq.read_table(path).to_pylist()]
