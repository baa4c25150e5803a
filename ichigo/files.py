"""Local file helpers every layer uses (data, speech tokenizer, eval, artifacts): atomic writes and
Parquet shard discovery. They sit below the packages so that none imports another for them."""

from __future__ import annotations

import json
from pathlib import Path


def write_atomic_bytes(path: Path, data: bytes) -> None:
    """Write-then-rename so a killed job never leaves a half-written file behind; fsynced before
    and after the rename (ichigo.durable) so a finished name means the bytes are on disk."""
    from ichigo import durable

    durable.write_bytes(path, data)


def write_json_atomic(path: Path, obj) -> None:
    write_atomic_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def shard_paths(directory: Path) -> list[Path]:
    paths = sorted(Path(directory).glob("part-*.parquet"))
    if not paths:
        raise FileNotFoundError(f"no part-*.parquet shards in {directory}")
    return paths
