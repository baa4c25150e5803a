"""The engine contract shared by the torch and vLLM back ends."""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Iterable, Iterator, Sequence

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


_END = object()


class Engine(ABC):
    """Streams generated ids for one prompt. Stop ids end the stream and are not yielded.

    Subclasses implement `stream` (sync) or override `astream_batches` (async) natively; the base
    class bridges the other direction so every caller can pick the style it needs (`astream`:
    one id at a time; `astream_batches`: lists of ids, what a streaming server wants).
    """

    tokenizer: IchigoTokenizer
    max_seq_len: int
    name: str = "engine"
    native_async = False  # True: tokens arrive on the event loop (astream_batches is native)

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
        batches = self.astream_batches(prompt, params)
        try:
            async for batch in batches:
                for tok in batch:
                    yield tok
        finally:
            await batches.aclose()  # consumer gone: the engine stops generating

    async def astream_batches(self, prompt: Sequence[int], params: GenParams,
                              transform: Callable[[Iterator[int]], Iterable[Any]] | None = None,
                              ) -> AsyncIterator[list[Any]]:
        """The generated ids in order, in lists of whatever is ready when the event loop gets to
        them: the worker thread wakes the loop once per batch, not once per token, so a fast
        model does not pay a thread handoff (and a GIL round trip) for every token.

        `transform(ids)`, if given, runs in the generation thread over the id stream and what it
        yields is delivered instead (e.g. detokenized, coalesced text: per-token work stays off
        the event loop)."""
        self.check_prompt(prompt, params)
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        lock = threading.Lock()
        buf: list[Any] = []
        state: dict = {"woken": False, "done": False, "error": None}
        cancel = threading.Event()

        def push(item: Any = _END, error: BaseException | None = None) -> None:
            with lock:
                if item is not _END:
                    buf.append(item)
                else:
                    state["done"], state["error"] = True, error
                if state["woken"]:  # the loop has not drained yet: it will take this one too
                    return
                state["woken"] = True
            try:
                loop.call_soon_threadsafe(ready.set)
            except RuntimeError:  # the consumer's loop is closed: nobody is listening
                cancel.set()

        def run() -> None:
            try:
                ids = self.stream(prompt, params, cancel)
                for item in (ids if transform is None else transform(ids)):
                    push(item)
                push()
            except BaseException as e:  # delivered to the consumer, raised there
                push(_END, error=e)

        fut = loop.run_in_executor(self._pool(), run)
        try:
            while True:
                await ready.wait()
                ready.clear()
                with lock:
                    batch, buf[:] = buf[:], []
                    state["woken"] = False
                    done, error = state["done"], state["error"]
                if batch:
                    yield batch
                if error is not None:
                    raise error
                if done:
                    break
        finally:
            cancel.set()  # consumer gone (client disconnect) or finished: stop generating
            del fut  # the worker notices `cancel` at its next token and exits on its own

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
