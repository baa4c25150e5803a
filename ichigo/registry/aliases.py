"""Aliases (challenger, champion): validated moves, promotion, rollback, and their history.

MLflow stages are deprecated upstream: an alias is the only pointer. Setting the alias by hand in
the MLflow UI is the primary path; `promote`/`rollback` and the follower record what they see in
two registered-model tags so that a rollback works after UI promotions too:

- `ichigo.alias_stack.<alias>`: JSON list of versions that held the alias, oldest first (rollback
  pops the top);
- `ichigo.alias_log.<alias>`: JSON list of the last events (who, when, what) for audit.
"""

from __future__ import annotations

import getpass
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ichigo.config import RegistryConfig
from ichigo.errors import InputError
from ichigo.registry.client import RegistryClient

TAG_PREFIX = "ichigo."
LINEAGE_HASH_TAG = "ichigo.lineage_hash"
ROLLOUT_FAILED_TAG = "ichigo.rollout_failed"
MAX_LOG_EVENTS = 25


def stack_tag(alias: str) -> str:
    return f"ichigo.alias_stack.{alias}"


def log_tag(alias: str) -> str:
    return f"ichigo.alias_log.{alias}"


def who() -> str:
    try:
        return os.environ.get("ICHIGO_USER") or getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return "unknown"


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


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


def _client(cfg_or_client: RegistryConfig | RegistryClient) -> RegistryClient:
    return cfg_or_client if isinstance(cfg_or_client, RegistryClient) else RegistryClient(cfg_or_client)


def _missing(e: Exception) -> bool:
    from mlflow.exceptions import MlflowException

    return isinstance(e, MlflowException) and e.error_code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND")


def get_version(client: RegistryClient, version: str | int) -> VersionInfo | None:
    from mlflow.exceptions import MlflowException

    try:
        mv = client.call(client.mlflow.get_model_version, client.model_name, str(version), what="get version")
    except MlflowException as e:
        if _missing(e):
            return None
        raise
    return VersionInfo.from_mlflow(mv)


def alias_version(cfg: RegistryConfig | RegistryClient, alias: str) -> VersionInfo | None:
    """The version an alias points at, or None when the alias (or the model) does not exist."""
    from mlflow.exceptions import MlflowException

    client = _client(cfg)
    try:
        mv = client.call(client.mlflow.get_model_version_by_alias, client.model_name, alias, what="get alias")
    except MlflowException as e:
        if _missing(e) or e.error_code == "INVALID_PARAMETER_VALUE":
            return None
        raise
    return VersionInfo.from_mlflow(mv)


def _require_ready(client: RegistryClient, version: str | int) -> VersionInfo:
    v = get_version(client, version)
    if v is None:
        raise InputError(f"model {client.model_name!r} has no version {version}: "
                         "pick an existing version (see the MLflow UI or `ichigo models`)")
    if v.status != "READY":
        raise InputError(f"{client.model_name} version {version} is {v.status}, not READY: "
                         "wait for its registration to finish or register it again")
    return v


def set_alias(cfg: RegistryConfig | RegistryClient, alias: str, version: str | int) -> VersionInfo:
    """Point `alias` at `version` after checking the version exists and is READY."""
    client = _client(cfg)
    v = _require_ready(client, version)
    client.call(client.mlflow.set_registered_model_alias, client.model_name, alias, v.version,
                what="set alias")
    return v


# ---- history -------------------------------------------------------------------------------

def _model_tags(client: RegistryClient) -> dict[str, str]:
    rm = client.call(client.mlflow.get_registered_model, client.model_name, what="get model")
    return dict(rm.tags or {})


def alias_stack(cfg: RegistryConfig | RegistryClient, alias: str) -> list[str]:
    client = _client(cfg)
    return json.loads(_model_tags(client).get(stack_tag(alias), "[]"))


def alias_log(cfg: RegistryConfig | RegistryClient, alias: str) -> list[dict[str, Any]]:
    client = _client(cfg)
    return json.loads(_model_tags(client).get(log_tag(alias), "[]"))


def _write_history(client: RegistryClient, alias: str, stack: list[str], event: dict[str, Any] | None) -> None:
    set_tag = client.mlflow.set_registered_model_tag
    client.call(set_tag, client.model_name, stack_tag(alias), json.dumps(stack[-50:]), what="set tag")
    if event is not None:
        log = json.loads(_model_tags(client).get(log_tag(alias), "[]"))
        log = (log + [event])[-MAX_LOG_EVENTS:]
        client.call(set_tag, client.model_name, log_tag(alias), json.dumps(log), what="set tag")


def record_holder(cfg: RegistryConfig | RegistryClient, alias: str, version: str, action: str,
                  detail: str = "", only_if_new: bool = False) -> list[str]:
    """Note that `version` holds `alias` now (pushed unless already on top); returns the stack.
    `only_if_new`: record nothing when it is already on top (an observation, not an action)."""
    client = _client(cfg)
    stack = alias_stack(client, alias)
    if stack and stack[-1] == str(version):
        if only_if_new:
            return stack
    else:
        stack.append(str(version))
    event = {"action": action, "version": str(version), "by": who(), "at": now()}
    if detail:
        event["detail"] = detail
    _write_history(client, alias, stack, event)
    return stack


# ---- promotion -----------------------------------------------------------------------------

def promote(cfg: RegistryConfig, version: str | int, alias: str | None = None) -> VersionInfo:
    """Move `alias` (default: the serving alias, `champion`) to `version`, recording history."""
    client = _client(cfg)
    alias = alias or cfg.serving_alias
    current = alias_version(client, alias)
    if current is not None:
        # a holder set by hand in the UI that nobody recorded yet: record it so rollback can reach it
        record_holder(client, alias, current.version, "observed", only_if_new=True)
    v = set_alias(client, alias, version)
    client.call(client.mlflow.set_model_version_tag, client.model_name, v.version,
                f"ichigo.promoted.{alias}", f"{now()} by {who()}", what="set tag")
    record_holder(client, alias, v.version, "promote",
                  f"from {current.version}" if current is not None else "")
    return v


def rollback(cfg: RegistryConfig, alias: str | None = None, reason: str = "") -> VersionInfo:
    """Move `alias` back to the version that held it before the current one."""
    client = _client(cfg)
    alias = alias or cfg.serving_alias
    current = alias_version(client, alias)
    if current is None:
        raise InputError(f"alias {alias!r} of {client.model_name!r} is not set: nothing to roll back")
    # a holder set by hand in the UI is recorded first, so the log shows what was rolled back
    stack = record_holder(client, alias, current.version, "observed", only_if_new=True)
    popped = [stack.pop()]
    while stack:
        prev = get_version(client, stack[-1])
        if prev is not None and prev.status == "READY" and prev.version != current.version:
            break
        popped.append(stack.pop())  # deleted versions (or repeats) are skipped
    else:
        raise InputError(f"alias {alias!r} has no earlier holder to roll back to "
                         f"(history: {alias_stack(client, alias)}); promote a version instead")
    target = set_alias(client, alias, stack[-1])
    client.call(client.mlflow.set_model_version_tag, client.model_name, current.version,
                f"ichigo.rolled_back.{alias}", f"{now()} by {who()}" + (f": {reason}" if reason else ""),
                what="set tag")
    detail = f"from {current.version}" + (f": {reason}" if reason else "")
    event = {"action": "rollback", "version": target.version, "by": who(), "at": now(), "detail": detail}
    _write_history(client, alias, stack, event)
    return target


def champion_metrics(cfg: RegistryConfig) -> dict[str, float] | None:
    """The serving alias holder's eval metrics (what the gate compares a candidate against)."""
    client = _client(cfg)
    v = alias_version(client, cfg.serving_alias)
    if v is None or not v.run_id:
        return None
    run = client.call(client.mlflow.get_run, v.run_id, what="get run")
    return dict(run.data.metrics)
