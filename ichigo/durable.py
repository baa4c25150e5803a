"""Crash-safe publishing: write to a temporary name, fsync, rename, fsync the directory.

A rename alone is atomic but not durable: after a power loss or a node crash the new name can
point at a file whose data never reached the disk (zero-length or garbage shards that a resumed
job then trusts as finished). fsync of the data before the rename, and of the directory after
it, makes "the final name exists" mean "the bytes are on disk".
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync_path(path: str | Path) -> None:
    """fsync one file or directory (directories: their entries, i.e. renames inside them)."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if Path(path).is_dir() else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(root: str | Path) -> None:
    """Every file and directory under `root` (a step's work dir before it is published)."""
    root = Path(root)
    if root.is_file():
        return fsync_path(root)
    for dirpath, _, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            if not p.is_symlink():
                fsync_path(p)
        fsync_path(dirpath)


def publish(tmp: str | Path, final: str | Path) -> None:
    """`os.replace(tmp, final)` after syncing tmp (file or tree); then sync final's directory."""
    fsync_tree(tmp)
    os.replace(tmp, final)
    fsync_path(Path(final).parent)


def write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically and durably (via `<name>.tmp`)."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_path(path.parent)


__all__ = ["fsync_path", "fsync_tree", "publish", "write_bytes"]
