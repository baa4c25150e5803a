"""Local paths and s3:// URIs behind one pair of functions (any S3-compatible store via boto3).

The endpoint comes from AWS_ENDPOINT_URL / MLFLOW_S3_ENDPOINT_URL when set (SeaweedFS, MinIO, ...).
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

from ichigo.errors import InputError


def is_s3(uri: str | Path) -> bool:
    return str(uri).startswith("s3://")


def s3_client():
    import boto3
    from botocore.config import Config

    endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("MLFLOW_S3_ENDPOINT_URL")
    return boto3.client("s3", endpoint_url=endpoint,
                        config=Config(retries={"max_attempts": 5, "mode": "standard"}))


def _split(uri: str) -> tuple[str, str]:
    u = urlparse(uri)
    if not u.netloc:
        raise InputError(f"{uri!r} is not an s3://bucket/key URI")
    return u.netloc, u.path.lstrip("/")


def fetch(uri: str | Path, cache_dir: str | Path) -> Path:
    """A local path for `uri`: itself if local, else a download (file or prefix) into cache_dir.
    Downloads are skipped for files already present with the same size."""
    if not is_s3(uri):
        p = Path(uri)
        if not p.exists():
            raise InputError(f"{p} does not exist")
        return p
    bucket, key = _split(str(uri))
    client = s3_client()
    dest_root = Path(cache_dir) / bucket / key
    objs = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
        objs.extend(page.get("Contents", []))
    if not objs:
        raise InputError(f"nothing at {uri}")
    single = len(objs) == 1 and objs[0]["Key"] == key
    for o in objs:
        dest = dest_root if single else dest_root / os.path.relpath(o["Key"], key)
        if dest.is_file() and dest.stat().st_size == o["Size"]:
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".part")
        client.download_file(bucket, o["Key"], str(tmp))
        os.replace(tmp, dest)
    return dest_root


def upload(local: str | Path, uri: str) -> None:
    """Upload a file or a directory tree to an s3:// prefix."""
    bucket, key = _split(uri)
    client = s3_client()
    p = Path(local)
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
    for f in files:
        k = key if p.is_file() else f"{key.rstrip('/')}/{f.relative_to(p).as_posix()}"
        client.upload_file(str(f), bucket, k)
