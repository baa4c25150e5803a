"""The promotion follower: serving follows an alias (default `champion`) without a redeploy.

Every poll reads the alias from MLflow. When it moved (by `ichigo promote`, `ichigo rollback` or
by hand in the MLflow UI: all the same to the follower), the new version's package is downloaded,
`apply` loads it into the running deployments, and `health_check` must pass. If loading or the
health check fails, the previous version is applied again, the failure is tagged on the version,
and (setting `revert_alias`, default on) the alias is moved back, so the registry shows what runs.

Only gated models reach traffic: a target without `ichigo.gate_passed=true`, or with
`ichigo.rollout_failed`, is refused before anything is loaded (the refusal is logged, tagged on
the version, and the alias moved back). A failed rollout is remembered in the registry (the tag),
not only in memory, so a restarted follower does not retry it, and a deliberate re-promotion
(`promote(..., retry_failed=True)` clears the tag) does. While a rollout runs, the heartbeat file
keeps being touched, so a liveness probe shorter than a rollout cannot kill the follower midway.

Drive it from a test with `poll_once()`; `run()` loops until stopped.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ichigo.errors import ConfigError
from ichigo.registry.aliases import REFUSED_TAG, ROLLOUT_FAILED_TAG, now, record_holder, serving_refusal, set_alias
from ichigo.registry.client import RegistryClient, RegistryUnavailableError
from ichigo.registry.resolve import download_version
from ichigo.registry.version import VersionInfo

log = logging.getLogger(__name__)

ApplyFn = Callable[[VersionInfo, "Path | None"], None]
HealthFn = Callable[[], bool]


@dataclass(frozen=True)
class FollowEvent:
    """What one poll did. kind: unchanged | no_alias | applied | failed | refused | skipped |
    unavailable."""

    kind: str
    version: str | None = None
    previous: str | None = None
    error: str | None = None


class AliasFollower:
    def __init__(self, client: RegistryClient, alias: str, apply: ApplyFn, health_check: HealthFn,
                 poll_seconds: float = 10.0, cache_dir: str | Path | None = None,
                 revert_alias: bool | None = None, heartbeat_file: str | Path | None = None,
                 fetch_package: bool = True):
        self.client = client
        self.alias = alias
        self.apply = apply
        self.health_check = health_check
        self.poll_seconds = poll_seconds
        self.cache_dir = cache_dir
        self.revert_alias = client.cfg.revert_alias_on_failure if revert_alias is None else revert_alias
        self.heartbeat_file = Path(heartbeat_file) if heartbeat_file else None
        # False when `apply` only points remote workers at the version (they download it
        # themselves, e.g. the RayService patcher): `apply` then gets None as the path
        self.fetch_package = fetch_package
        self.current: VersionInfo | None = None
        self.current_path: Path | None = None
        # versions whose failure could not be tagged in MLflow (registry down): skipped from memory
        self.failed: set[str] = set()
        self.refused: set[str] = set()  # refusals already recorded (tag once, log every poll)
        self.events: list[FollowEvent] = []
        self._stop = threading.Event()

    def assume_current(self, version: VersionInfo, package_path: Path | None) -> None:
        """Tell the follower what the server already runs (e.g. loaded at start-up)."""
        self.current = version
        self.current_path = Path(package_path) if package_path is not None else None

    def adopt_running(self, version: VersionInfo | None, package_path: Path | None = None) -> bool:
        """After a restart: take what runs as the fallback only if it may serve and is healthy
        now (the previous follower may have died mid-rollout of an unverified version). Else the
        first poll rolls out the alias target from scratch. Returns whether it was adopted."""
        if version is None:
            return False
        refusal = serving_refusal(version)
        with self._heartbeat_while_busy():
            healthy = refusal is None and self.health_check()
        if not healthy:
            log.error("not adopting the running version %s after a restart: %s", version.version,
                      refusal or "its health check fails")
            return False
        self.assume_current(version, package_path)
        return True

    # ---- one poll ------------------------------------------------------------------------
    def poll_once(self) -> FollowEvent:
        try:
            target = self.client.get_version_by_alias(self.alias)
        except RegistryUnavailableError as e:
            # keep serving what runs; the next poll tries again
            return self._event(FollowEvent("unavailable", error=str(e)), heartbeat=False)
        if target is None:
            return self._event(FollowEvent("no_alias", previous=self._cur()))
        if self.current is not None and target.version == self.current.version:
            # the alias came back to what runs: a later deliberate re-promotion of a version that
            # failed only in memory (its tag could not be written) is retried
            self.failed.clear()
            return self._event(FollowEvent("unchanged", target.version))
        refusal = serving_refusal(target)
        if refusal is not None:
            return self._event(self._refuse(target, refusal))
        if target.version in self.failed:
            return self._event(FollowEvent("skipped", target.version, self._cur(),
                                           "failed earlier; promote another version"))
        previous, previous_path = self.current, self.current_path
        try:
            with self._heartbeat_while_busy():
                path = download_version(self.client, target, self.cache_dir) if self.fetch_package else None
                self.apply(target, path)
                healthy = self.health_check()
            if not healthy:
                raise RuntimeError("health check failed after loading the new version")
        except Exception as e:  # noqa: BLE001 - any failure means: go back to what worked
            with self._heartbeat_while_busy():
                return self._event(self._recover(target, previous, previous_path, e))
        self.current, self.current_path = target, path
        self.failed.discard(target.version)
        try:
            record_holder(self.client, self.alias, target.version, "serving", "applied by the follower",
                          only_if_new=True)
        except RegistryUnavailableError as e:
            log.warning("could not record the alias history: %s", e)
        log.info("now serving %s (alias %s)", target.uri, self.alias)
        return self._event(FollowEvent("applied", target.version, previous.version if previous else None))

    def _refuse(self, target: VersionInfo, reason: str) -> FollowEvent:
        """Never load it; record why on the version and move the alias back to what runs."""
        log.error("refusing to serve %s (alias %s): %s", target.uri, self.alias, reason)
        if target.version not in self.refused:
            try:
                record = {"at": now(), "alias": self.alias, "reason": reason, "kept": self._cur()}
                self.client.set_model_version_tag(target.version, REFUSED_TAG, json.dumps(record),
                                                  what="tag refused version")
                if self.revert_alias and self.current is not None:
                    set_alias(self.client, self.alias, self.current.version)
                    record_holder(self.client, self.alias, self.current.version, "auto-revert",
                                  f"version {target.version} refused: {reason[:200]}")
                self.refused.add(target.version)
            except RegistryUnavailableError as e:
                log.error("could not record the refusal in MLflow: %s", e)
        return FollowEvent("refused", target.version, self._cur(), reason)

    def _recover(self, target: VersionInfo, previous: VersionInfo | None, previous_path: Path | None,
                 err: Exception) -> FollowEvent:
        msg = f"{type(err).__name__}: {err}"[:1000]
        log.error("version %s failed to roll out: %s", target.version, msg)
        if previous is not None:
            try:
                self.apply(previous, previous_path)
                if not self.health_check():
                    log.error("previous version %s is unhealthy too after re-applying it", previous.version)
            except Exception as e2:  # noqa: BLE001 - report both, keep following
                log.error("re-applying version %s failed too: %s", previous.version, e2)
        record = {"at": now(), "alias": self.alias, "error": msg,
                  "restored": previous.version if previous else None}
        try:
            self.client.set_model_version_tag(target.version, ROLLOUT_FAILED_TAG, json.dumps(record),
                                              what="tag failed version")
            self.refused.discard(target.version)
            if self.revert_alias and previous is not None:
                set_alias(self.client, self.alias, previous.version)
                record_holder(self.client, self.alias, previous.version, "auto-revert",
                              f"version {target.version} failed: {msg[:200]}")
        except RegistryUnavailableError as e:
            log.error("could not record the failed rollout in MLflow: %s", e)
            self.failed.add(target.version)  # not in the registry: remember it here
        return FollowEvent("failed", target.version, previous.version if previous else None, msg)

    def _cur(self) -> str | None:
        return self.current.version if self.current else None

    def _beat(self) -> None:
        if self.heartbeat_file is not None:
            self.heartbeat_file.parent.mkdir(parents=True, exist_ok=True)
            self.heartbeat_file.touch()

    @contextmanager
    def _heartbeat_while_busy(self):
        """A rollout may wait longer than the liveness probe allows between beats (KubeRay
        upgrades take minutes): beat every poll interval while it works, from a side thread that
        ends with the rollout, so a follower stuck anywhere else still stops beating."""
        if self.heartbeat_file is None:
            yield
            return
        done = threading.Event()

        def beat() -> None:
            while not done.wait(min(self.poll_seconds, 30.0)):
                self._beat()

        t = threading.Thread(target=beat, name="follower-heartbeat", daemon=True)
        t.start()
        try:
            yield
        finally:
            done.set()
            t.join()

    def _event(self, ev: FollowEvent, heartbeat: bool = True) -> FollowEvent:
        self.events.append(ev)
        if heartbeat:
            self._beat()
        return ev

    # ---- loop ----------------------------------------------------------------------------
    def run(self, max_polls: int | None = None) -> None:
        n = 0
        while not self._stop.is_set() and (max_polls is None or n < max_polls):
            ev = self.poll_once()
            if ev.kind not in ("unchanged", "no_alias"):
                log.info("follow %s: %s", self.alias, ev)
            n += 1
            if max_polls is None or n < max_polls:
                self._stop.wait(self.poll_seconds)

    def stop(self) -> None:
        self._stop.set()


def run_follower(profile: str = "local", apply: ApplyFn | None = None,
                 health_check: HealthFn | None = None, max_polls: int | None = None) -> AliasFollower:
    """Entry point for `ichigo follow --profile P`.

    Without `apply`, the follower patches the RayService named by ICHIGO_RAYSERVICE in
    ICHIGO_NAMESPACE (default: the profile's cluster namespace) through the Kubernetes API.
    """
    from ichigo.config import load_profile
    from ichigo.deploy.rayservice import RayServicePatcher

    p = load_profile(profile)
    reg = p.registry
    if os.environ.get("MLFLOW_TRACKING_URI"):  # the Deployment points the follower at the server
        reg = reg.model_copy(update={"tracking_uri": os.environ["MLFLOW_TRACKING_URI"]})
    if apply is None:
        name = os.environ.get("ICHIGO_RAYSERVICE")
        if not name:
            raise ConfigError("set ICHIGO_RAYSERVICE (the RayService to patch) or pass apply= "
                              "(in-process serving supplies its own loader)")
        patcher = RayServicePatcher.from_environment(name, os.environ.get("ICHIGO_NAMESPACE", p.cluster.namespace))
        apply, health_check = patcher, (health_check or patcher.healthy)
        fetch = False  # the Ray workers download the package themselves
    else:
        fetch = True
    follower = AliasFollower(RegistryClient(reg), p.serving.follow_alias, apply, health_check or (lambda: True),
                             poll_seconds=p.serving.poll_seconds, fetch_package=fetch,
                             heartbeat_file=os.environ.get("ICHIGO_HEARTBEAT_FILE"))
    if not fetch:
        pinned = patcher.deployed_version()
        running = follower.client.get_model_version(pinned) if pinned else None
        # what runs now is what a failed rollout goes back to, once checked: never assumed
        follower.adopt_running(running, None)
    follower.run(max_polls=max_polls)
    return follower
