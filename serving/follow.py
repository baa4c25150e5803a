"""Each model-holding replica follows the registry alias itself.

A Serve handle reaches one replica, not all of them, so a central follower could not reload every
replica; instead every LLM / SpeechTokenizer replica runs an `AliasFollower` thread whose `apply`
is that replica's `load_package`. New replicas (autoscaling) resolve the alias when they start.
Only LLM replicas may move the alias back after a failed rollout (revert_alias), so a broken
version is reverted by the replicas that run it, not by every deployment.

Replicas on one node share the package cache; their polls (which download) take a file lock so
two processes never build the same version directory at once.
"""

from __future__ import annotations

import fcntl
import logging
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ichigo.config import Profile

log = logging.getLogger(__name__)


def cache_root(profile: Profile) -> Path:
    from ichigo.registry.client import expand

    return Path(expand(profile.serving.package_cache or profile.registry.cache_dir))


@contextmanager
def cache_lock(profile: Profile) -> Iterator[None]:
    root = cache_root(profile)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".download.lock", "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def start_follower(profile: Profile, alias: str, current, current_path: Path,
                   load: Callable[[Path, str], None], revert_alias: bool) -> tuple[object, threading.Thread]:
    from ichigo.registry import AliasFollower, RegistryClient

    def apply(version, path: Path | None) -> None:
        load(path, version.version)

    # `load` smoke-tests the new model before it swaps it in and raises if it is broken, so the
    # follower's own health check has nothing left to add
    follower = AliasFollower(RegistryClient(profile.registry), alias, apply, health_check=lambda: True,
                             poll_seconds=profile.serving.poll_seconds,
                             cache_dir=profile.serving.package_cache, revert_alias=revert_alias)
    if current is not None:
        follower.assume_current(current, current_path)

    def loop() -> None:
        while not follower._stop.is_set():
            try:
                with cache_lock(profile):
                    ev = follower.poll_once()
                if ev.kind not in ("unchanged", "no_alias"):
                    log.warning("follow %s: %s", alias, ev)  # warning: visible in replica logs
            except Exception:  # noqa: BLE001 - a poll must never kill the follower thread
                log.exception("follow %s: poll failed", alias)
            follower._stop.wait(follower.poll_seconds)

    t = threading.Thread(target=loop, name=f"follow-{alias}", daemon=True)
    t.start()
    return follower, t
