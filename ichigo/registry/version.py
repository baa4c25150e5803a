"""One registered model version as the registry code sees it (a frozen copy of MLflow's
ModelVersion), kept apart from the client so that the client can return it and everything above
the client can import it without importing each other."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

LINEAGE_HASH_TAG = "ichigo.lineage_hash"


@dataclass(frozen=True)
class VersionInfo:
    name: str
    version: str
    run_id: str | None
    source: str
    status: str
    tags: dict[str, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def lineage_hash(self) -> str | None:
        return self.tags.get(LINEAGE_HASH_TAG)

    @classmethod
    def from_mlflow(cls, mv: Any) -> "VersionInfo":
        return cls(mv.name, str(mv.version), mv.run_id, mv.source, str(mv.status),
                   dict(mv.tags or {}), tuple(getattr(mv, "aliases", []) or ()))
