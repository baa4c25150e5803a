"""Fewer, larger stream messages between deployments, without holding text back for long.

Every item a Ray Serve streaming call yields is one message from the LLM replica to the ingress
(~1 ms of CPU in each of two processes on 2 busy cores); a small model makes a token in well
under that, so a reply sent token by token spends more time in messages than in the model.
Text pieces are therefore coalesced:

- the first delta goes out at once (time to first token is unchanged);
- a delta that completes a sentence goes out at once (TTS of that sentence starts without delay);
- otherwise deltas wait until `interval` has passed since the last piece went out, so the text
  still streams as it is generated (a reader cannot see a 40 ms batch), and a slow model whose
  tokens come further apart than `interval` still sends every token on its own.

For a thread-driven engine (torch) the detokenization and this policy run in the generation
thread itself (`text_pieces`), so the event loop wakes once per piece, not once per token (a
thread handoff per token cost ~5 ms per 23-token reply here). There a piece can wait up to
`interval` plus one token time; natively async engines (vLLM) get a timer on the loop instead.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, AsyncIterator, Callable, Iterable, Iterator

if TYPE_CHECKING:
    from ichigo.engines import Engine, GenParams

# the longest a generated delta waits for company before it is sent on its own
STREAM_INTERVAL_S = 0.04


class Coalescer:
    """The policy above, without any clock of its own beyond `clock()` at each push."""

    def __init__(self, interval: float = STREAM_INTERVAL_S,
                 flush_now: Callable[[str], bool] | None = None, clock: Callable[[], float] = time.monotonic):
        self.interval, self.flush_now, self.clock = interval, flush_now, clock
        self.buf: list[str] = []
        self.last: float | None = None  # when a piece last went out

    def push(self, delta: str) -> str | None:
        """Add a delta; returns the piece to send now, if one is due."""
        self.buf.append(delta)
        now = self.clock()
        if (self.last is None or now - self.last >= self.interval
                or (self.flush_now is not None and self.flush_now(delta))):
            return self.take(now)
        return None

    def due_in(self) -> float | None:
        """Seconds until the waiting text must go out (None: nothing waits)."""
        if not self.buf:
            return None
        return max(0.0, (self.last or 0.0) + self.interval - self.clock())

    def take(self, now: float | None = None) -> str:
        piece, self.buf = "".join(self.buf), []
        self.last = self.clock() if now is None else now
        return piece


def _sentence_end() -> Callable[[str], bool]:
    from ichigo.assistant import SentenceChunker

    chunker = SentenceChunker()
    return lambda delta: bool(chunker.push(delta))


async def text_pieces(engine: "Engine", ids: list[int], params: "GenParams",
                      interval: float = STREAM_INTERVAL_S) -> AsyncIterator[tuple[str, bool, int]]:
    """The reply as coalesced text pieces: (text, last, tokens generated so far). `last` marks
    the remainder sent after generation ended, which the caller may send with its end marker."""
    if getattr(engine, "native_async", False):
        async for item in _loop_side(engine, ids, params, interval):
            yield item
        return
    from ichigo.engines import IncrementalDecoder

    count = [0]

    def pieces(tokens: Iterable[int]) -> Iterator[tuple[str, bool, int]]:  # generation thread
        dec, co = IncrementalDecoder(engine.tokenizer), Coalescer(interval, _sentence_end())
        for tok in tokens:
            count[0] += 1
            delta = dec.push(tok)
            piece = co.push(delta) if delta else None
            if piece:
                yield piece, False, count[0]
        rest = "".join(co.buf) + dec.flush()
        yield rest, True, count[0]

    batches = engine.astream_batches(ids, params, transform=pieces)
    try:
        async for batch in batches:
            for item in batch:
                yield item
    finally:
        await batches.aclose()


async def _loop_side(engine: "Engine", ids: list[int], params: "GenParams",
                     interval: float) -> AsyncIterator[tuple[str, bool, int]]:
    """The same for an engine whose tokens arrive on the event loop: a timer sends text that
    waited `interval`."""
    from ichigo.engines import IncrementalDecoder

    loop = asyncio.get_running_loop()
    dec, co = IncrementalDecoder(engine.tokenizer), Coalescer(interval, _sentence_end(), loop.time)
    count = 0
    it = engine.astream_batches(ids, params).__aiter__()
    nxt: asyncio.Future | None = asyncio.ensure_future(it.__anext__())
    try:
        while True:
            done, _ = await asyncio.wait({nxt}, timeout=co.due_in())  # type: ignore[arg-type]
            if not done:  # the oldest waiting delta has waited `interval`: send what there is
                yield co.take(), False, count
                continue
            try:
                batch = nxt.result()  # type: ignore[union-attr]
            except StopAsyncIteration:
                nxt = None
                break
            nxt = asyncio.ensure_future(it.__anext__())
            count += len(batch)
            delta = "".join(dec.push(tok) for tok in batch)
            piece = co.push(delta) if delta else None
            if piece:
                yield piece, False, count
        yield "".join(co.buf) + dec.flush(), True, count
    finally:
        if nxt is not None:  # consumer gone early: stop the source (the engine stops generating)
            nxt.cancel()
            await asyncio.wait({nxt})
        await it.aclose()  # type: ignore[attr-defined]


__all__ = ["Coalescer", "STREAM_INTERVAL_S", "text_pieces"]
