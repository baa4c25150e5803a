"""Where a replica gets its model: a local package dir, or a registry URI (`models:/name@alias`),
downloaded once per version. Registry URIs with an alias are followed (see serving/follow.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ichigo.config import Profile
from ichigo.errors import InputError
from ichigo.package import read_package_info


@dataclass(frozen=True)
class ModelSource:
    uri: str

    @property
    def is_registry(self) -> bool:
        return self.uri.startswith("models:/")

    @property
    def alias(self) -> str | None:
        if not self.is_registry:
            return None
        from ichigo.registry import parse_model_uri
        return parse_model_uri(self.uri)[1]

    def check(self) -> None:
        """Fail at build time (before any replica starts) when a local package is unusable."""
        if self.is_registry:
            from ichigo.registry import parse_model_uri
            parse_model_uri(self.uri)
        else:
            read_package_info(self.uri)

    def resolve(self, profile: Profile) -> tuple[Path, str, object | None]:
        """(package dir, version label, registry VersionInfo or None)."""
        if not self.is_registry:
            p = Path(self.uri).resolve()
            read_package_info(p)
            return p, f"local:{p.name}", None
        from ichigo.registry import RegistryClient, resolve_version
        from ichigo.registry.resolve import download_version

        client = RegistryClient(profile.registry)
        v = resolve_version(client, self.uri)
        return download_version(client, v, cache_dir(profile)), v.version, v


def cache_dir(profile: Profile) -> str | None:
    return profile.serving.package_cache  # None: the registry's own cache_dir


def require_model_uri(args: dict) -> ModelSource:
    uri = args.get("model_uri") or args.get("model")
    if not uri:
        raise InputError("build_app needs args.model_uri: a package directory or models:/name@alias")
    return ModelSource(str(uri))
