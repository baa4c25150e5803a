"""`models:/<name>@<alias>` or `models:/<name>/<version>` -> a local package directory.

Downloads land in `<cache_dir>/<name>/<version>/` (the package in `artifacts/package/`) and are published by an atomic rename, so an
interrupted download is redone and a finished one is reused without touching the network again.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from ichigo.config import RegistryConfig
from ichigo.errors import InputError
from ichigo.package import read_package_info
from ichigo import durable
from ichigo.registry.aliases import VersionInfo, _client, alias_version, get_version
from ichigo.registry.client import RegistryClient, expand

_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/]+)|/(?P<version>\d+))$")
DONE_MARKER = ".complete"
PACKAGE_ARTIFACT = "package"  # the package dir's key among the pyfunc model's artifacts


def parse_model_uri(uri: str) -> tuple[str, str | None, str | None]:
    """(name, alias, version): exactly one of alias/version is set."""
    m = _URI.match(uri.strip())
    if not m:
        raise InputError(f"{uri!r} is not a registry model URI: use models:/<name>@<alias> "
                         "or models:/<name>/<version>")
    return m["name"], m["alias"], m["version"]


def resolve_version(cfg: RegistryConfig | RegistryClient, uri: str) -> VersionInfo:
    client = _client(cfg)
    name, alias, version = parse_model_uri(uri)
    if name != client.model_name:
        client = RegistryClient(client.cfg.model_copy(update={"model_name": name}))
    v = alias_version(client, alias) if alias else get_version(client, version)  # type: ignore[arg-type]
    if v is None:
        raise InputError(f"{uri} does not resolve: no such " + ("alias" if alias else "version") +
                         f" on registered model {name!r}")
    if v.status != "READY":
        raise InputError(f"{uri} points at version {v.version}, which is {v.status}, not READY")
    return v


def resolve_package(cfg: RegistryConfig | RegistryClient, uri: str,
                    cache_dir: str | Path | None = None) -> Path:
    """The local package dir of the version `uri` names (downloaded once per version)."""
    return download_version(cfg, resolve_version(cfg, uri), cache_dir)


def download_version(cfg: RegistryConfig | RegistryClient, v: VersionInfo,
                     cache_dir: str | Path | None = None) -> Path:
    import mlflow.artifacts

    client = _client(cfg)
    root = Path(cache_dir) if cache_dir else Path(expand(client.cfg.cache_dir))
    dest = root / v.name / v.version
    if (dest / DONE_MARKER).is_file():
        return dest / "artifacts" / PACKAGE_ARTIFACT
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{v.name}-{v.version}-", dir=root))
    try:
        with client.fluent():
            client.call(mlflow.artifacts.download_artifacts, artifact_uri=v.uri, dst_path=str(tmp),
                        tracking_uri=client.tracking_uri, what=f"download {v.uri}")
        pkg = tmp / "artifacts" / PACKAGE_ARTIFACT
        if not pkg.is_dir():
            raise InputError(f"{v.uri} holds no Ichigo package (no artifacts/{PACKAGE_ARTIFACT}): "
                             "was it registered with ichigo.registry.register_candidate?")
        read_package_info(pkg)
        (tmp / DONE_MARKER).write_text(v.source + "\n")
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():  # an earlier interrupted attempt
            shutil.rmtree(dest)
        durable.publish(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest / "artifacts" / PACKAGE_ARTIFACT
