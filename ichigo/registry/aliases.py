"""Aliases (challenger, champion): validated moves, promotion, rollback, and their history.

MLflow stages are deprecated upstream: an alias is the only pointer. Setting the alias by hand in
the MLflow UI is the primary path; `promote`/`rollback` and the follower record what they see so
that a rollback works after UI promotions too. The history is append-only: every event is its own
registered-model tag `ichigo.alias_event.<alias>.<ns time>-<random>` (JSON), never read-modified-
written, so concurrent writers (the follower, a human, a pipeline) cannot lose each other's
events. The holder stack (rollback pops its top) and the audit log are replayed from the events,
on top of the older single-tag form (`ichigo.alias_stack.<alias>`, `ichigo.alias_log.<alias>`).

Only gated models reach traffic: `promote` refuses a version whose `ichigo.gate_passed` tag is
not `true` or that carries `ichigo.rollout_failed` (re-promote it with `retry_failed=True`, which
clears that tag and records the retry), and the follower refuses the same (serving_refusal).
"""

from __future__ import annotations

import getpass
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from ichigo.config import RegistryConfig
from ichigo.errors import InputError
from ichigo.registry.client import RegistryClient

TAG_PREFIX = "ichigo."
LINEAGE_HASH_TAG = "ichigo.lineage_hash"
ROLLOUT_FAILED_TAG = "ichigo.rollout_failed"
GATE_PASSED_TAG = "ichigo.gate_passed"
REFUSED_TAG = "ichigo.refused"  # why the follower / promote would not serve a version (JSON)
MAX_LOG_EVENTS = 25


def stack_tag(alias: str) -> str:
    return f"ichigo.alias_stack.{alias}"


def log_tag(alias: str) -> str:
    return f"ichigo.alias_log.{alias}"


def event_prefix(alias: str) -> str:
    return f"ichigo.alias_event.{alias}."


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


def _events(tags: dict[str, str], alias: str) -> list[dict[str, Any]]:
    prefix = event_prefix(alias)
    return [json.loads(tags[k]) for k in sorted(k for k in tags if k.startswith(prefix))]


def _replay(tags: dict[str, str], alias: str) -> tuple[list[str], list[dict[str, Any]]]:
    """(holder stack, audit log) from the legacy tags plus the append-only events."""
    stack = json.loads(tags.get(stack_tag(alias), "[]"))
    log = json.loads(tags.get(log_tag(alias), "[]"))
    for ev in _events(tags, alias):
        v = ev["version"]
        if ev.get("op") == "rollback":  # back to `v`: everything above it goes
            while stack and stack[-1] != v:
                stack.pop()
            if not stack:
                stack.append(v)
        elif ev.get("op") == "push" and (not stack or stack[-1] != v):
            stack.append(v)
        log.append({k: x for k, x in ev.items() if k != "op"})
    return stack, log[-MAX_LOG_EVENTS:]


def alias_stack(cfg: RegistryConfig | RegistryClient, alias: str) -> list[str]:
    client = _client(cfg)
    return _replay(_model_tags(client), alias)[0]


def alias_log(cfg: RegistryConfig | RegistryClient, alias: str) -> list[dict[str, Any]]:
    client = _client(cfg)
    return _replay(_model_tags(client), alias)[1]


def _append_event(client: RegistryClient, alias: str, op: str, event: dict[str, Any]) -> None:
    """One new tag per event: a write never depends on what another writer did (no lost update)."""
    key = f"{event_prefix(alias)}{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
    client.call(client.mlflow.set_registered_model_tag, client.model_name, key,
                json.dumps({"op": op, **event}), what="set tag")


def record_holder(cfg: RegistryConfig | RegistryClient, alias: str, version: str, action: str,
                  detail: str = "", only_if_new: bool = False) -> list[str]:
    """Note that `version` holds `alias` now (pushed unless already on top); returns the stack.
    `only_if_new`: record nothing when it is already on top (an observation, not an action)."""
    client = _client(cfg)
    stack = alias_stack(client, alias)
    if only_if_new and stack and stack[-1] == str(version):
        return stack
    event = {"action": action, "version": str(version), "by": who(), "at": now()}
    if detail:
        event["detail"] = detail
    _append_event(client, alias, "push", event)
    if not stack or stack[-1] != str(version):
        stack.append(str(version))
    return stack


def serving_refusal(v: VersionInfo) -> str | None:
    """Why `v` must not serve traffic, or None: it did not pass the eval gate, or a rollout of
    it failed (until someone re-promotes it on purpose)."""
    if v.tags.get(GATE_PASSED_TAG) != "true":
        return (f"version {v.version} has no {GATE_PASSED_TAG}=true tag "
                f"(got {v.tags.get(GATE_PASSED_TAG)!r}): only versions that passed the eval gate serve")
    if ROLLOUT_FAILED_TAG in v.tags:
        return (f"version {v.version} failed a rollout ({v.tags[ROLLOUT_FAILED_TAG][:200]}); "
                "re-promote it with retry_failed (ichigo promote --retry-failed) to try again")
    return None


# ---- promotion -----------------------------------------------------------------------------

def promote(cfg: RegistryConfig, version: str | int, alias: str | None = None,
            retry_failed: bool = False) -> VersionInfo:
    """Move `alias` (default: the serving alias, `champion`) to `version`, recording history.
    Refuses a version that did not pass the gate, or whose rollout failed (unless
    `retry_failed`: then the failure tag is cleared and the follower tries it again)."""
    client = _client(cfg)
    alias = alias or cfg.serving_alias
    target = _require_ready(client, version)
    if retry_failed and ROLLOUT_FAILED_TAG in target.tags:
        client.call(client.mlflow.set_model_version_tag, client.model_name, target.version,
                    "ichigo.rollout_retried", json.dumps({"at": now(), "by": who(),
                                                          "failure": target.tags[ROLLOUT_FAILED_TAG]}),
                    what="set tag")
        client.call(client.mlflow.delete_model_version_tag, client.model_name, target.version,
                    ROLLOUT_FAILED_TAG, what="delete tag")
        target = _require_ready(client, version)
    refusal = serving_refusal(target)
    if refusal is not None:
        raise InputError(f"not promoting {client.model_name} to {alias!r}: {refusal}")
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
        if (prev is not None and prev.status == "READY" and prev.version != current.version
                and serving_refusal(prev) is None):
            break
        popped.append(stack.pop())  # deleted, refused (ungated, failed) versions and repeats are skipped
    else:
        raise InputError(f"alias {alias!r} has no earlier holder to roll back to "
                         f"(history: {alias_stack(client, alias)}); promote a version instead")
    target = set_alias(client, alias, stack[-1])
    client.call(client.mlflow.set_model_version_tag, client.model_name, current.version,
                f"ichigo.rolled_back.{alias}", f"{now()} by {who()}" + (f": {reason}" if reason else ""),
                what="set tag")
    detail = f"from {current.version}" + (f": {reason}" if reason else "")
    _append_event(client, alias, "rollback",
                  {"action": "rollback", "version": target.version, "by": who(), "at": now(), "detail": detail})
    return target


def champion_metrics(cfg: RegistryConfig) -> dict[str, float] | None:
    """The serving alias holder's eval metrics (what the gate compares a candidate against)."""
    client = _client(cfg)
    v = alias_version(client, cfg.serving_alias)
    if v is None or not v.run_id:
        return None
    run = client.call(client.mlflow.get_run, v.run_id, what="get run")
    return dict(run.data.metrics)
