"""Declared datasets (`data.sources` in a profile), read as streams of rows.

`iter_source(spec, shard, num_shards, start=...)` walks the source in a stable order. Row `index`
is its position in that order; shard k of n gets the rows with index % n == k, and a consumer that
recorded the last index it finished resumes with `start=last + 1` (no duplicate, no missing row).
`limit` keeps the first `limit` positions, `fraction` a stable hash-chosen share of ids. Bad rows
are skipped and counted in `stats` by reason; a whole source (one shard of one) that yields nothing
is an error naming it. A wrong layout or column mapping fails on the first file, naming the source,
the file and the column.
"""

from __future__ import annotations

import zlib
from typing import Iterator

import pyarrow.parquet as pq

from ichigo.audio import AudioError, read_audio
from ichigo.config.sections import SOURCE_COLUMNS, SOURCE_FORMATS, SourceSpec
from ichigo.data.sources.asr import READERS as ASR_READERS
from ichigo.data.sources.chat import read_chat
from ichigo.data.sources.files import data_files
from ichigo.data.sources.rows import AsrRow, ChatRow, SourceStats
from ichigo.errors import InputError

__all__ = ["SourceSpec", "AsrRow", "ChatRow", "SourceStats", "iter_source", "require_rows", "count_positions",
           "SOURCE_FORMATS", "SOURCE_COLUMNS"]


def _kept(spec: SourceSpec, row_id: str) -> bool:
    return spec.fraction >= 1.0 or zlib.crc32(row_id.encode()) < spec.fraction * 2 ** 32


def _asr_rows(spec: SourceSpec, shard: int, num_shards: int, start: int,
              stats: SourceStats) -> Iterator[AsrRow]:
    for i, raw in enumerate(ASR_READERS[spec.format](spec)):
        if spec.limit is not None and i >= spec.limit:
            return
        row_id = f"{spec.name}/{raw.raw_id}"
        if i < start or i % num_shards != shard or not _kept(spec, row_id):
            continue
        if raw.load is None:
            stats.skip(raw.reason)
            continue
        if not isinstance(raw.text, str):
            stats.skip("wrong_type")
            continue
        if not raw.text.strip():
            stats.skip("empty_text")
            continue
        try:
            audio = raw.load()
            wave, sr = read_audio(audio)  # decoded once here so undecodable rows never reach TTS/tokenizer
        except FileNotFoundError:
            stats.skip("missing_audio")
            continue
        except AudioError as e:
            stats.skip("empty_audio" if e.reason == "empty" else "undecodable_audio")
            continue
        seconds = len(wave) / sr
        if seconds > spec.max_seconds:
            stats.skip("too_long")
            continue
        stats.used += 1
        yield AsrRow(row_id, i, audio, " ".join(raw.text.split()), raw.speaker, spec.language,
                     round(seconds, 3))


def _chat_rows(spec: SourceSpec, shard: int, num_shards: int, start: int,
               stats: SourceStats) -> Iterator[ChatRow]:
    for i, raw in enumerate(read_chat(spec)):
        if spec.limit is not None and i >= spec.limit:
            return
        row_id = f"{spec.name}/{raw.raw_id}"
        if i < start or i % num_shards != shard or not _kept(spec, row_id):
            continue
        if raw.messages is None:
            stats.skip(raw.reason)
            continue
        if sum(len(m["content"]) for m in raw.messages) > spec.max_chars:
            stats.skip("too_long")
            continue
        stats.used += 1
        yield ChatRow(row_id, i, raw.messages, spec.language)


def iter_source(spec: SourceSpec, shard: int = 0, num_shards: int = 1, *, start: int = 0,
                stats: SourceStats | None = None) -> Iterator[AsrRow | ChatRow]:
    """ASR rows for kind `asr`, chat rows otherwise. Pass `stats` to read the skip counts."""
    if not 0 <= shard < num_shards:
        raise ValueError(f"shard {shard} is outside 0..{num_shards - 1}")
    stats = stats if stats is not None else SourceStats(spec.name, spec.kind)
    rows = (_asr_rows if spec.kind == "asr" else _chat_rows)(spec, shard, num_shards, start, stats)
    n = 0
    for row in rows:
        n += 1
        yield row
    if n == 0 and num_shards == 1 and start == 0:
        require_rows(stats)


def count_positions(spec: SourceSpec) -> int:
    """How many positions the source's stream has (after `limit`), without reading any audio:
    what a planner needs to cut it into shards."""
    if spec.kind == "asr" and spec.format == "parquet":  # one position per row: the footer says how many
        n = sum(pq.ParquetFile(f).metadata.num_rows for f in data_files(spec, (".parquet",)))
        return n if spec.limit is None else min(n, spec.limit)
    reader = ASR_READERS[spec.format] if spec.kind == "asr" else read_chat
    n = 0
    for _ in reader(spec):
        n += 1
        if spec.limit is not None and n >= spec.limit:
            break
    return n


def require_rows(stats: SourceStats) -> None:
    """Fail naming the source when it (all shards together) produced no usable row."""
    if stats.used == 0:
        why = ", ".join(f"{k}: {v}" for k, v in sorted(stats.skipped.items())) or "it holds no rows"
        raise InputError(f"source {stats.name!r} ({stats.kind}) yielded no usable rows ({why}); "
                         "check its uri, split, format and columns")
