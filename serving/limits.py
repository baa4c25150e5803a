"""Per-key request limits of one ingress replica: a token bucket (requests per minute with a
burst) and a cap on requests in flight. Both answer "how long until you may retry", which the
middleware sends as 429 `Retry-After`."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class TokenBucket:
    rate_per_minute: int
    burst: int
    clock: Callable[[], float] = time.monotonic
    _level: dict[str, float] = field(default_factory=dict)
    _at: dict[str, float] = field(default_factory=dict)

    def take(self, key: str) -> float:
        """0 when `key` may proceed (one token taken), else seconds until a token is back."""
        if self.rate_per_minute <= 0:
            return 0.0
        now, per_s = self.clock(), self.rate_per_minute / 60.0
        level = min(self.burst, self._level.get(key, self.burst) + (now - self._at.get(key, now)) * per_s)
        self._at[key] = now
        if level >= 1.0:
            self._level[key] = level - 1.0
            return 0.0
        self._level[key] = level
        return (1.0 - level) / per_s


@dataclass
class ConcurrencyCap:
    limit: int
    _busy: dict[str, int] = field(default_factory=dict)

    def acquire(self, key: str) -> bool:
        if self.limit > 0 and self._busy.get(key, 0) >= self.limit:
            return False
        self._busy[key] = self._busy.get(key, 0) + 1
        return True

    def release(self, key: str) -> None:
        n = self._busy.get(key, 0) - 1
        if n > 0:
            self._busy[key] = n
        else:
            self._busy.pop(key, None)


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


__all__ = ["ConcurrencyCap", "TokenBucket", "retry_after"]
