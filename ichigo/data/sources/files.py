"""Streaming access to the files of a source: listing, JSONL lines, Parquet record batches, and
the load-time column check whose error names the source, the file and the missing column."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pyarrow.parquet as pq

from ichigo.config.sections import SourceSpec
from ichigo.errors import InputError
from ichigo.storage import fetch

PARQUET_BATCH = 64  # rows per decoded batch: bounded memory whatever the file size


def source_root(spec: SourceSpec) -> Path:
    try:
        return fetch(spec.uri)
    except InputError as e:
        raise InputError(f"source {spec.name!r}: {e}") from None


def data_files(spec: SourceSpec, suffixes: tuple[str, ...]) -> list[Path]:
    """The source's files with these suffixes, sorted (a stable order makes shards and resume
    points stable); with `split`, only files whose name or parent folder starts with it."""
    root = source_root(spec)
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    files = [f for f in files if f.name.endswith(suffixes)]
    if spec.split and not root.is_file():
        files = [f for f in files if any(part.startswith(spec.split)
                                         for part in f.relative_to(root).parts)]
    if not files:
        where = f" (split {spec.split!r})" if spec.split else ""
        raise InputError(f"source {spec.name!r}: no {'/'.join(suffixes)} files at {spec.uri}{where}")
    return files


def missing_column(spec: SourceSpec, path: Path, column: str, have) -> InputError:
    key = next((k for k, v in spec.columns.items() if v == column), None)
    hint = f"columns.{key} maps to it" if key else "map it with `columns` in the source entry"
    return InputError(f"source {spec.name!r}: {path} has no column {column!r} "
                      f"(it has {sorted(have)}); fix the file or the format ({spec.format}); {hint}")


def parquet_records(spec: SourceSpec, path: Path, required: list[str],
                    optional: list[str]) -> Iterator[dict]:
    try:
        f = pq.ParquetFile(path)
    except Exception as e:
        raise InputError(f"source {spec.name!r}: {path} is not a readable Parquet file ({e})") from None
    names = set(f.schema_arrow.names)
    for c in required:
        if c not in names:
            raise missing_column(spec, path, c, names)
    cols = required + [c for c in optional if c in names]
    for batch in f.iter_batches(batch_size=PARQUET_BATCH, columns=cols):
        yield from batch.to_pylist()


def jsonl_records(spec: SourceSpec, path: Path) -> Iterator[tuple[int, dict | None]]:
    """(line number, record) per non-blank line; record None when the line is not a JSON object."""
    with path.open("r", encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                rec = None
            yield n, rec if isinstance(rec, dict) else None
