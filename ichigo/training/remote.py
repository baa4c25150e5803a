"""s3:// model/data/output locations for a training job (a TrainJob pod's disk is scratch).

Inputs are downloaded once per node; the output prefix is mirrored from a local staging dir: the
newest complete checkpoint is pulled before training (preemption -> resume), and every new
checkpoint, metrics.jsonl, the final model and result.json are pushed as they appear. A checkpoint
is complete in S3 only once its `resume/trainer.json` is there (uploaded last).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from ichigo.artifacts import STAGE_RESULT_FILE, TRAIN_METRICS_FILE
from ichigo.storage import fetch, is_s3, s3_client, upload


def _split(uri: str) -> tuple[str, str]:
    rest = uri[len("s3://"):]
    bucket, _, key = rest.partition("/")
    return bucket, key.rstrip("/")


def staging_root() -> Path:
    return Path(os.environ.get("ICHIGO_STAGING_DIR", "/tmp/ichigo-train"))


def local_input(uri: str, name: str) -> Path:
    if not is_s3(uri):
        return Path(uri)
    return fetch(uri, staging_root() / "inputs" / name)


def local_output(uri: str) -> Path:
    if not is_s3(uri):
        return Path(uri)
    return staging_root() / "outputs" / hashlib.sha256(uri.encode()).hexdigest()[:12]


def _list(uri: str) -> list[dict]:
    bucket, key = _split(uri)
    out: list[dict] = []
    for page in s3_client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key + "/"):
        out.extend(page.get("Contents", []))
    return out


def pull_output(uri: str, local: Path) -> None:
    """Newest complete checkpoint, metrics.jsonl and result.json (the final model stays remote)."""
    objs = [o["Key"] for o in _list(uri)]
    _, key = _split(uri)
    rel = [k[len(key) + 1:] for k in objs]
    done = sorted({r.split("/")[1] for r in rel
                   if r.startswith("checkpoints/step_") and r.endswith("/resume/trainer.json")})
    wanted = [r for r in rel if r in (TRAIN_METRICS_FILE, STAGE_RESULT_FILE)]
    if done:
        wanted += [r for r in rel if r.startswith(f"checkpoints/{done[-1]}/")]
    bucket, _ = _split(uri)
    client = s3_client()
    for r in wanted:
        dest = local / r
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        client.download_file(bucket, f"{key}/{r}", str(tmp))
        os.replace(tmp, dest)


def push(local: Path, uri: str, rel: str) -> None:
    """Upload local/rel (file or dir) to uri/rel; a checkpoint's trainer.json goes last."""
    src = local / rel
    if src.is_file():
        upload(src, f"{uri}/{rel}")
        return
    files = sorted(f for f in src.rglob("*") if f.is_file())
    files.sort(key=lambda f: f.name == "trainer.json")
    for f in files:
        upload(f, f"{uri}/{rel}/{f.relative_to(src).as_posix()}")


def delete_prefix(uri: str) -> None:
    bucket, _ = _split(uri)
    client = s3_client()
    keys = [{"Key": o["Key"]} for o in _list(uri)]
    for i in range(0, len(keys), 1000):
        client.delete_objects(Bucket=bucket, Delete={"Objects": keys[i:i + 1000]})


def prune_checkpoints(uri: str, keep: set[str]) -> None:
    """Delete remote checkpoints/step_* dirs whose names are not in `keep` (mirrors keep_last)."""
    _, key = _split(uri)
    names = {o["Key"][len(key) + 1:].split("/")[1] for o in _list(f"{uri}/checkpoints")}
    for name in sorted(names - keep):
        delete_prefix(f"{uri}/checkpoints/{name}")
