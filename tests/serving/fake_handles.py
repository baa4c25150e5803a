"""Plain async objects standing in for Ray Serve DeploymentHandles (`handle.method.remote(*args)`),
so the turn engine and the wire formats run without Ray. `Died` stands in for RayActorError."""

from __future__ import annotations

import asyncio
from typing import Any, Callable


class Died(Exception):
    """The replica serving a call died under it."""


class Method:
    def __init__(self, fn: Callable[..., Any]):
        self.fn = fn

    def remote(self, *args: Any) -> Any:
        return self.fn(*args)


class Gate:
    """A stream item: the LLM waits here (at most `timeout` s) until `event` is set."""

    def __init__(self, event: asyncio.Event, timeout: float = 5.0):
        self.event, self.timeout = event, timeout


class FakeSpeech:
    """encode(audio) -> `out`, after the first `deaths` calls died."""

    def __init__(self, out: dict, deaths: int = 0):
        self.out, self.deaths, self.calls = out, deaths, 0
        self.encode = Method(self._encode)

    async def _encode(self, audio: bytes) -> dict:
        self.calls += 1
        if self.calls <= self.deaths:
            raise Died("speech replica died")
        return self.out


class FakeLLM:
    """A streaming LLM handle: call k (one per replica tried) plays `scripts[k]`, a list of
    event dicts, exceptions to raise there, and `Gate`s to wait at."""

    def __init__(self, *scripts: list[Any]):
        self.scripts, self.calls = scripts, []
        self.generate = Method(self._generate)

    def _generate(self, messages: list[dict], max_new: int | None, temperature: float | None,
                  versions: list[str] | None) -> Any:
        script = self.scripts[len(self.calls)]
        self.calls.append({"messages": messages, "max_new": max_new, "temperature": temperature,
                           "versions": versions})

        async def stream():
            for item in script:
                await asyncio.sleep(0)  # a real stream yields to the loop between messages
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, Gate):
                    await asyncio.wait_for(item.event.wait(), item.timeout)
                    continue
                yield item
        return stream()


def start(version: str = "3", prompt_tokens: int = 7) -> dict:
    return {"type": "start", "version": version, "prompt_tokens": prompt_tokens}


def text(delta: str) -> dict:
    return {"type": "text", "delta": delta}


def end(delta: str = "", completion_tokens: int = 5, finish_reason: str = "stop") -> dict:
    ev = {"type": "end", "completion_tokens": completion_tokens, "finish_reason": finish_reason}
    return {**ev, "delta": delta} if delta else ev


class FakeTTS:
    """synthesize(text, voice, rate, container) -> b"<container>:<text>" after `delays[text]`
    seconds; `started` is set per sentence when its synthesis begins; `log` records the order."""

    def __init__(self, delays: dict[str, float] | None = None, fail: dict[str, Exception] | None = None):
        self.delays, self.fail = delays or {}, fail or {}
        self.log: list[tuple[str, str]] = []
        self.args: list[tuple] = []
        self.started: dict[str, asyncio.Event] = {}
        self.synthesize = Method(self._synthesize)

    def started_event(self, sentence: str) -> asyncio.Event:
        return self.started.setdefault(sentence, asyncio.Event())

    async def _synthesize(self, sentence: str, voice: str | None, rate: int | None, container: str) -> bytes:
        self.log.append(("start", sentence))
        self.args.append((sentence, voice, rate, container))
        self.started_event(sentence).set()
        try:
            await asyncio.sleep(self.delays.get(sentence, 0))
        except asyncio.CancelledError:
            self.log.append(("cancelled", sentence))
            raise
        if sentence in self.fail:
            raise self.fail[sentence]
        self.log.append(("end", sentence))
        return f"{container}:{sentence}".encode()
