"""`models:/<name>@<alias>` or `models:/<name>/<version>` -> a local package directory.

Downloads land in `<cache_dir>/<name>/<version>/` (the package in `artifacts/package/`) and are published by an atomic rename, so an
interrupted download is redone and a finished one is reused without touching the network again.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from ichigo.errors import InputError
from ichigo.package import read_package_info
from ichigo import durable
from ichigo.registry.client import RegistryClient, expand
from ichigo.registry.version import VersionInfo

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


def resolve_version(client: RegistryClient, uri: str) -> VersionInfo:
    name, alias, version = parse_model_uri(uri)
    client = client.for_model(name)
    v = client.get_version_by_alias(alias) if alias else client.get_model_version(version)  # type: ignore[arg-type]
    if v is None:
        raise InputError(f"{uri} does not resolve: no such " + ("alias" if alias else "version") +
                         f" on registered model {name!r}")
    if v.status != "READY":
        raise InputError(f"{uri} points at version {v.version}, which is {v.status}, not READY")
    return v


def resolve_package(client: RegistryClient, uri: str, cache_dir: str | Path | None = None) -> Path:
    """The local package dir of the version `uri` names (downloaded once per version)."""
    return download_version(client, resolve_version(client, uri), cache_dir)


def download_version(client: RegistryClient, v: VersionInfo, cache_dir: str | Path | None = None) -> Path:
    root = Path(cache_dir) if cache_dir else Path(expand(client.cfg.cache_dir))
    dest = root / v.name / v.version
    if (dest / DONE_MARKER).is_file():
        return dest / "artifacts" / PACKAGE_ARTIFACT
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{v.name}-{v.version}-", dir=root))
    try:
        client.download_model_version(v, str(tmp))
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
