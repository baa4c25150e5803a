"""Per-item result caches so that an interrupted evaluation resumes where it stopped.

Each metric keeps `<out_dir>/.cache/<name>.jsonl`: a header line with a fingerprint of what was
evaluated (model files, eval settings), then one JSON record per finished item, flushed as it
is written. A different fingerprint (another model or other settings) starts the file afresh, so
stale results are never mixed in. Judge calls are the expensive part on a cluster: they are
cached with the answers.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterable


def fingerprint(*parts: Any, files: Iterable[Path] = ()) -> str:
    """Hash of JSON-able parts plus (name, size, mtime) of files: cheap even for an 8B model."""
    h = hashlib.sha256()
    h.update(json.dumps(parts, sort_keys=True, default=str).encode())
    for f in sorted(Path(p) for p in files):
        if f.is_file():
            st = f.stat()
            h.update(f"{f.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:20]


class ItemCache:
    def __init__(self, path: Path, fp: str):
        self.path = Path(path)
        self.fp = fp
        self.done: dict[str, dict] = {}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.is_file():
            self._load()
        if not self.done:
            self.path.write_text(json.dumps({"fingerprint": fp}) + "\n")

    def _load(self) -> None:
        lines = self.path.read_text().splitlines()
        try:
            header = json.loads(lines[0]) if lines else {}
        except json.JSONDecodeError:
            header = {}
        if header.get("fingerprint") != self.fp:
            return
        for line in lines[1:]:
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a kill: redo that item
                continue
            self.done[rec["id"]] = rec
        # rewrite without any torn tail so appends start on a clean line
        self.path.write_text("".join(json.dumps(x) + "\n" for x in [{"fingerprint": self.fp},
                                                                     *self.done.values()]))

    def get(self, item_id: str) -> dict | None:
        return self.done.get(item_id)

    def put(self, record: dict) -> None:
        self.done[record["id"]] = record
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()


def split_cached(items: Iterable, cache: "ItemCache | None") -> tuple[dict[str, dict], list]:
    """(records already in the cache by item id, items still to compute)."""
    done: dict[str, dict] = {}
    todo = []
    for it in items:
        hit = cache.get(it.id) if cache is not None else None
        if hit is not None:
            done[it.id] = hit
        else:
            todo.append(it)
    return done, todo
