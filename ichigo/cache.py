"""Content-addressed step cache: the second `ichigo run` reuses every step whose inputs, config
and code did not change, and a killed step resumes in the same work dir.

kfp.local has no caching of its own (a KFP backend does, and there the cache dir is unset). A step's
key is a hash of its name, its config, the keys of its inputs (each output dir carries its key in
`.ichigo-step.json`, so keys chain without re-hashing data) and the core library's source.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

from ichigo import durable

STEP_FILE = ".ichigo-step.json"


# what a step's result can depend on inside the core library: code, profiles, built-in data sets
SOURCE_SUFFIXES = (".py", ".yaml", ".json", ".csv")


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.suffix in SOURCE_SUFFIXES and "__pycache__" not in p.parts:
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:16]


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """Hash of the core library (SOURCE_SUFFIXES): any change invalidates cached steps."""
    return tree_hash(Path(__file__).resolve().parent)


def input_key(path: str | Path) -> str:
    """The cache key of an upstream output (or a content hash of a foreign directory/file)."""
    p = Path(path)
    marker = p / STEP_FILE
    if marker.is_file():
        return json.loads(marker.read_text())["key"]
    h = hashlib.sha256()
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
    for f in files:
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def step_key(step: str, config: Any, inputs: dict[str, str | Path]) -> str:
    material = {"step": step, "config": config, "code": code_version(),
                "inputs": {k: input_key(v) for k, v in sorted(inputs.items())}}
    return hashlib.sha256(json.dumps(material, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _link_tree(src: Path, dst: Path) -> None:
    def link(s, d):
        try:
            os.link(s, d)
        except OSError:
            shutil.copy2(s, d)
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, copy_function=link)


def run_step(step: str, config: Any, inputs: dict[str, str | Path], out_dir: str | Path,
             fn: Callable[[Path], dict], cache_dir: str | Path | None = None) -> dict:
    """Run `fn(work_dir) -> summary` unless a cached result exists; result ends up in out_dir.

    With a cache: work happens in `<cache>/<step>/<key>.partial` (kept if the run is killed, so a
    resumable `fn` picks up where it stopped), then is renamed to `<key>` and hard-linked into
    out_dir. Returns the summary, with `cached: True` when nothing ran.
    """
    out = Path(out_dir)
    key = step_key(step, config, inputs)
    if not cache_dir:
        out.mkdir(parents=True, exist_ok=True)
        summary = fn(out)
        (out / STEP_FILE).write_text(json.dumps({"key": key, "step": step, "summary": summary}, default=str))
        return {**summary, "cached": False}
    final = Path(cache_dir) / step / key
    if not (final / STEP_FILE).is_file():
        work = final.with_name(key + ".partial")
        work.mkdir(parents=True, exist_ok=True)
        summary = fn(work)
        (work / STEP_FILE).write_text(json.dumps({"key": key, "step": step, "summary": summary}, default=str))
        if final.exists():
            shutil.rmtree(final)
        durable.publish(work, final)  # a crash right after must not leave a "finished" empty step
        cached = False
    else:
        cached = True
    _link_tree(final, out)
    summary = json.loads((final / STEP_FILE).read_text())["summary"]
    return {**summary, "cached": cached}
