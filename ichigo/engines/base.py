"""The engine contract shared by the torch and vLLM back ends."""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import AsyncIterator, Iterator, Sequence

from ichigo.errors import InputError
from ichigo.model.tokenizer import IchigoTokenizer


@dataclass(frozen=True)
class GenParams:
    max_new_tokens: int = 64
    temperature: float = 0.0  # 0: greedy (deterministic answers, what tests and eval want)
    top_k: int | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise InputError(f"max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not 0 <= self.temperature <= 2:
            raise InputError(f"temperature must be in [0, 2], got {self.temperature}")


_DONE = object()


class Engine(ABC):
    """Streams generated ids for one prompt. Stop ids end the stream and are not yielded.

    Subclasses implement `stream` (sync) or override `astream` (async) natively; the base class
    bridges the other direction so every caller can pick the style it needs.
    """

    tokenizer: IchigoTokenizer
    max_seq_len: int
    name: str = "engine"

    def check_prompt(self, prompt: Sequence[int], params: GenParams) -> None:
        """Fail before any work when the prompt cannot fit (a 4xx, not a broken stream)."""
        if not prompt:
            raise InputError("empty prompt")
        if len(prompt) + params.max_new_tokens > self.max_seq_len:
            raise InputError(
                f"the conversation is {len(prompt)} tokens; with {params.max_new_tokens} new tokens "
                f"it exceeds the model's context of {self.max_seq_len}: send shorter audio/text or "
                "fewer history turns")

    @abstractmethod
    def stream(self, prompt: Sequence[int], params: GenParams,
               cancel: threading.Event | None = None) -> Iterator[int]: ...

    # One worker thread per engine: generations run to completion (or cancel) without ever
    # parking a pool thread on a lock held by a suspended consumer.
    _executor: ThreadPoolExecutor | None = None

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.name}-gen")
        return self._executor

    async def astream(self, prompt: Sequence[int], params: GenParams) -> AsyncIterator[int]:
        self.check_prompt(prompt, params)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        cancel = threading.Event()

        def run() -> None:
            try:
                for tok in self.stream(prompt, params, cancel):
                    loop.call_soon_threadsafe(queue.put_nowait, tok)
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)
            except BaseException as e:  # delivered to the consumer, raised there
                loop.call_soon_threadsafe(queue.put_nowait, e)

        fut = loop.run_in_executor(self._pool(), run)
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            cancel.set()  # consumer gone (client disconnect) or finished: stop generating
            del fut  # the worker notices `cancel` at its next token and exits on its own

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
