"""Reading benchmark files: where they are (local, s3://, world://, builtin://) and their rows,
with errors that name the file, the row and the field to fix."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ichigo.config.sections import BenchmarkSpec
from ichigo.errors import InputError

WORLD_SCHEME = "world://"
# sets shipped with the package, in their published layouts (builtin/<name>/): knowledge a
# pretrained base already has, so that retention is measured where there is something to lose
BUILTIN_SCHEME = "builtin://"
BUILTIN_DIR = Path(__file__).resolve().parent / "builtin"


def builtin_names() -> list[str]:
    return sorted(p.name for p in BUILTIN_DIR.iterdir() if p.is_dir())


def resolve(spec: BenchmarkSpec, cache_dir: Path, eval_dir: Path | None = None) -> Path:
    """The benchmark's local root: a local path, an s3:// download, a set shipped with the
    package, or the embedded world's fact bank written as benchmark files (once, under `cache_dir`)."""
    if spec.uri.startswith(BUILTIN_SCHEME):
        name, names = spec.uri[len(BUILTIN_SCHEME):], builtin_names()
        if name not in names:  # a name, never a path out of the package
            raise InputError(f"benchmark {spec.name!r}: no built-in set {name!r}; built-in sets: "
                             f"{', '.join(BUILTIN_SCHEME + n for n in names)}")
        return BUILTIN_DIR / name
    if spec.uri.startswith(WORLD_SCHEME):
        from ichigo.eval.benchmarks.world_files import write_world_benchmark
        return write_world_benchmark(spec.uri[len(WORLD_SCHEME):], Path(cache_dir) / "world", eval_dir)
    from ichigo.storage import fetch
    try:
        return fetch(spec.uri, Path(cache_dir) / "s3")
    except InputError as e:
        raise InputError(f"benchmark {spec.name!r}: {e}") from None


def data_files(root: Path, suffixes: tuple[str, ...], split: str | None = None) -> list[Path]:
    """`root` itself, or the files under it with one of `suffixes`; with `split`, only those
    whose name or parent folder names that split (HF's `test-00000-of-00001.parquet`,
    `data/test.jsonl`, `test/part-0.parquet`)."""
    if root.is_file():
        return [root]
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.name.endswith(suffixes))
    if split is not None:
        def names_split(p: Path) -> bool:
            stem = p.name.split(".")[0]
            return stem == split or stem.startswith(split + "-") or stem.startswith(split + "_") \
                or split in p.relative_to(root).parts[:-1]
        picked = [p for p in files if names_split(p)]
        files = picked or ([] if any(names_split(q) for q in files) else files)
    return files


def read_rows(path: Path) -> list[dict]:
    """Rows of a .jsonl / .json (list) / .parquet / .csv (with header) file."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq
        try:
            return pq.read_table(path).to_pylist()
        except Exception as e:  # a truncated or foreign file: say which
            raise InputError(f"{path} is not a readable parquet file ({e})") from None
    if name.endswith(".jsonl"):
        rows = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as e:
                    raise InputError(f"{path} row {n}: not JSON ({e.msg})") from None
                if not isinstance(row, dict):
                    raise InputError(f"{path} row {n}: expected a JSON object, got {type(row).__name__}")
                rows.append(row)
        return rows
    if name.endswith(".json"):
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, list):
            raise InputError(f"{path}: expected a JSON list of objects")
        return data
    if name.endswith(".csv"):
        with path.open(newline="", encoding="utf-8") as f:
            return list(csv.DictReader(f))
    raise InputError(f"{path}: unsupported benchmark file type; use .jsonl, .parquet or .csv")


def field(row: dict, names: tuple[str, ...], where: str, required: bool = True):
    """The first of `names` present (non-empty) in `row`; a missing required one names the row."""
    for n in names:
        v = row.get(n)
        if v is not None and not (isinstance(v, str) and not v.strip()):
            return v
    if required:
        raise InputError(f"{where}: missing field {names[0]!r}" +
                         (f" (or {', '.join(repr(n) for n in names[1:])})" if len(names) > 1 else ""))
    return None


def non_empty(items: list, spec: BenchmarkSpec, where: str) -> list:
    if not items:
        raise InputError(f"benchmark {spec.name!r}: split {spec.split!r} in {where} is empty")
    return items[: spec.limit] if spec.limit else items
