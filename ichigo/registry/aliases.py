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
from datetime import datetime, timezone
from typing import Any

from ichigo.errors import InputError
from ichigo.registry.client import RegistryClient
from ichigo.registry.version import VersionInfo

TAG_PREFIX = "ichigo."
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


def _require_ready(client: RegistryClient, version: str | int) -> VersionInfo:
    v = client.get_model_version(version)
    if v is None:
        raise InputError(f"model {client.model_name!r} has no version {version}: "
                         "pick an existing version (see the MLflow UI or `ichigo models`)")
    if v.status != "READY":
        raise InputError(f"{client.model_name} version {version} is {v.status}, not READY: "
                         "wait for its registration to finish or register it again")
    return v


def set_alias(client: RegistryClient, alias: str, version: str | int) -> VersionInfo:
    """Point `alias` at `version` after checking the version exists and is READY."""
    v = _require_ready(client, version)
    client.set_alias(alias, v.version)
    return v


# ---- history -------------------------------------------------------------------------------

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


def alias_stack(client: RegistryClient, alias: str) -> list[str]:
    return _replay(client.registered_model_tags(), alias)[0]


def alias_log(client: RegistryClient, alias: str) -> list[dict[str, Any]]:
    return _replay(client.registered_model_tags(), alias)[1]


def _append_event(client: RegistryClient, alias: str, op: str, event: dict[str, Any]) -> None:
    """One new tag per event: a write never depends on what another writer did (no lost update)."""
    key = f"{event_prefix(alias)}{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"
    client.set_registered_model_tag(key, json.dumps({"op": op, **event}))


def record_holder(client: RegistryClient, alias: str, version: str, action: str,
                  detail: str = "", only_if_new: bool = False) -> list[str]:
    """Note that `version` holds `alias` now (pushed unless already on top); returns the stack.
    `only_if_new`: record nothing when it is already on top (an observation, not an action)."""
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

def promote(client: RegistryClient, version: str | int, alias: str | None = None,
            retry_failed: bool = False) -> VersionInfo:
    """Move `alias` (default: the serving alias, `champion`) to `version`, recording history.
    Refuses a version that did not pass the gate, or whose rollout failed (unless
    `retry_failed`: then the failure tag is cleared and the follower tries it again)."""
    alias = alias or client.cfg.serving_alias
    target = _require_ready(client, version)
    if retry_failed and ROLLOUT_FAILED_TAG in target.tags:
        client.set_model_version_tag(target.version, "ichigo.rollout_retried",
                                     json.dumps({"at": now(), "by": who(), "failure": target.tags[ROLLOUT_FAILED_TAG]}))
        client.delete_model_version_tag(target.version, ROLLOUT_FAILED_TAG)
        target = _require_ready(client, version)
    refusal = serving_refusal(target)
    if refusal is not None:
        raise InputError(f"not promoting {client.model_name} to {alias!r}: {refusal}")
    current = client.get_version_by_alias(alias)
    if current is not None:
        # a holder set by hand in the UI that nobody recorded yet: record it so rollback can reach it
        record_holder(client, alias, current.version, "observed", only_if_new=True)
    v = set_alias(client, alias, version)
    client.set_model_version_tag(v.version, f"ichigo.promoted.{alias}", f"{now()} by {who()}")
    record_holder(client, alias, v.version, "promote",
                  f"from {current.version}" if current is not None else "")
    return v


def rollback(client: RegistryClient, alias: str | None = None, reason: str = "") -> VersionInfo:
    """Move `alias` back to the version that held it before the current one."""
    alias = alias or client.cfg.serving_alias
    current = client.get_version_by_alias(alias)
    if current is None:
        raise InputError(f"alias {alias!r} of {client.model_name!r} is not set: nothing to roll back")
    # a holder set by hand in the UI is recorded first, so the log shows what was rolled back
    stack = record_holder(client, alias, current.version, "observed", only_if_new=True)
    popped = [stack.pop()]
    while stack:
        prev = client.get_model_version(stack[-1])
        if (prev is not None and prev.status == "READY" and prev.version != current.version
                and serving_refusal(prev) is None):
            break
        popped.append(stack.pop())  # deleted, refused (ungated, failed) versions and repeats are skipped
    else:
        raise InputError(f"alias {alias!r} has no earlier holder to roll back to "
                         f"(history: {alias_stack(client, alias)}); promote a version instead")
    target = set_alias(client, alias, stack[-1])
    client.set_model_version_tag(current.version, f"ichigo.rolled_back.{alias}",
                                 f"{now()} by {who()}" + (f": {reason}" if reason else ""))
    detail = f"from {current.version}" + (f": {reason}" if reason else "")
    _append_event(client, alias, "rollback",
                  {"action": "rollback", "version": target.version, "by": who(), "at": now(), "detail": detail})
    return target


def champion_metrics(client: RegistryClient) -> dict[str, float] | None:
    """The serving alias holder's eval metrics (what the gate compares a candidate against)."""
    v = client.get_version_by_alias(client.cfg.serving_alias)
    if v is None or not v.run_id:
        return None
    return client.get_run_metrics(v.run_id)
