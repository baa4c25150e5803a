"""Hot-swappable model holder: new requests see the new model at once, in-flight ones finish on
the model they started with, and the old one is closed when its last request ends."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Generic, Iterator, TypeVar

T = TypeVar("T")


@dataclass
class _Entry(Generic[T]):
    value: T
    version: str
    in_flight: int = 0
    retired: bool = False


class ModelSlot(Generic[T]):
    def __init__(self, value: T, version: str, close: Callable[[T], None] | None = None):
        self._lock = threading.Lock()
        self._cur = _Entry(value, version)
        self._close = close

    @property
    def version(self) -> str:
        return self._cur.version

    @property
    def value(self) -> T:
        return self._cur.value

    @contextmanager
    def lease(self) -> Iterator[tuple[T, str]]:
        with self._lock:
            e = self._cur
            e.in_flight += 1
        try:
            yield e.value, e.version
        finally:
            with self._lock:
                e.in_flight -= 1
                done = e.retired and e.in_flight == 0
            if done:
                self._retire(e)

    def swap(self, value: T, version: str) -> str:
        """Install `value`; returns the previous version."""
        with self._lock:
            old, self._cur = self._cur, _Entry(value, version)
            old.retired = True
            idle = old.in_flight == 0
        if idle:
            self._retire(old)
        return old.version

    def _retire(self, e: _Entry[T]) -> None:
        if self._close is not None:
            self._close(e.value)
