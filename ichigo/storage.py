"""Local paths and s3:// URIs behind one pair of functions (any S3-compatible store via boto3).

S3 goes through boto3 with its usual configuration (AWS_* variables; AWS_ENDPOINT_URL or
MLFLOW_S3_ENDPOINT_URL for a non-AWS server such as SeaweedFS). Downloads land in a cache
directory keyed by bucket/key and are reused; a partial download never looks complete.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ichigo import durable
from ichigo.errors import ConfigError, InputError


def is_s3(uri: str | Path) -> bool:
    return str(uri).startswith("s3://")


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")  # S3's bucket naming rules


def split_s3(uri: str) -> tuple[str, str]:
    bucket, _, key = str(uri)[len("s3://"):].partition("/")
    if not is_s3(uri) or not bucket:
        raise ConfigError(f"bad S3 URI {uri!r}: expected s3://bucket/key")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ConfigError(f"bad S3 URI {uri!r}: {bucket!r} is not a valid bucket name")
    return bucket, key


def _local(root: Path, key: str) -> Path:
    """Where object `key` lands in the cache; a key with `..` or a leading '/' (S3 allows any
    bytes in a key) would otherwise write outside the cache."""
    from ichigo.package import inside

    try:
        return inside(root, key, "S3 key")
    except InputError as e:
        raise InputError(f"refusing to download {e}") from None


def s3_client():
    import boto3
    from botocore.config import Config

    endpoint = os.environ.get("AWS_ENDPOINT_URL") or os.environ.get("MLFLOW_S3_ENDPOINT_URL")
    return boto3.client("s3", endpoint_url=endpoint or None,
                        config=Config(retries={"max_attempts": 5, "mode": "standard"}))


def default_cache_dir() -> Path:
    return Path(os.environ.get("ICHIGO_CACHE_DIR", Path.home() / ".cache" / "ichigo")).resolve() / "s3"


def _download(client, bucket: str, key: str, dest: Path, size: int | None = None) -> Path:
    if dest.is_file() and (size is None or dest.stat().st_size == size):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".part")
    client.download_file(bucket, key, str(tmp))
    durable.publish(tmp, dest)
    return dest


def fetch(uri: str | Path, cache_dir: str | Path | None = None) -> Path:
    """A local path as is (must exist), or an s3:// object / prefix downloaded into the cache
    (`cache_dir/<bucket>/<key>`); for a prefix the local directory is returned."""
    if not is_s3(uri):
        p = Path(uri).expanduser()
        if not p.exists():
            raise InputError(f"{uri} does not exist")
        return p
    bucket, key = split_s3(str(uri))
    root = Path(cache_dir or default_cache_dir()) / bucket
    client = s3_client()
    objects: dict[str, int] = {}
    try:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key.rstrip("/")):
            objects.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    except Exception as e:
        raise InputError(f"cannot list {uri} ({type(e).__name__}: {e}); check the bucket and "
                         "the AWS_* credentials / AWS_ENDPOINT_URL") from None
    if key in objects:  # an exact object
        return _download(client, bucket, key, _local(root, key), objects[key])
    prefix = key.rstrip("/") + "/" if key else ""
    under = {k: s for k, s in objects.items() if k.startswith(prefix) and not k.endswith("/")}
    if not under:
        raise InputError(f"nothing found at {uri}")
    for k, size in under.items():
        _download(client, bucket, k, _local(root, k), size)
    return _local(root, key.rstrip("/")) if key.rstrip("/") else root


def upload(local: str | Path, uri: str) -> None:
    """Upload a file or a directory tree to an s3:// prefix."""
    bucket, key = split_s3(uri)
    client = s3_client()
    p = Path(local)
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.is_file())
    for f in files:
        k = key if p.is_file() else f"{key.rstrip('/')}/{f.relative_to(p).as_posix()}"
        client.upload_file(str(f), bucket, k)
