"""Engines behind one interface: torch (run here), vLLM (code path checked with a stand-in
engine object, since vllm needs a GPU), the hot-swap slot and the async bridge."""

from __future__ import annotations

import asyncio
import threading
from types import SimpleNamespace

import pytest

from ichigo.chat_template import Message
from ichigo.engines import GenParams, make_engine
from ichigo.engines.slot import ModelSlot
from ichigo.errors import ConfigError, InputError
from ichigo.package import llm_dir


@pytest.fixture(scope="module")
def engine(tiny_package):
    return make_engine("torch", llm_dir(tiny_package))


def _prompt(engine, text="hi"):
    from ichigo.assistant import prompt_ids
    return prompt_ids([Message("user", text)], engine.tokenizer)


def test_torch_stream_and_astream_agree(engine):
    p = _prompt(engine)
    sync = list(engine.stream(p, GenParams(max_new_tokens=12)))
    assert sync and not set(sync) & engine.tokenizer.stop_ids

    async def collect():
        return [t async for t in engine.astream(p, GenParams(max_new_tokens=12))]
    assert asyncio.run(collect()) == sync


def test_astream_stops_generating_when_the_consumer_leaves(engine):
    p = _prompt(engine)

    async def take_two():
        got = []
        agen = engine.astream(p, GenParams(max_new_tokens=200))
        async for t in agen:
            got.append(t)
            if len(got) == 2:
                break
        await agen.aclose()
        # the worker thread exits at once: the next generation is not stuck behind it
        return got, await asyncio.wait_for(
            asyncio.gather(*[_collect(engine, p) for _ in range(2)]), timeout=30)

    got, again = asyncio.run(take_two())
    assert len(got) == 2 and again[0] == again[1]


async def _collect(engine, p):
    return [t async for t in engine.astream(p, GenParams(max_new_tokens=4))]


def test_prompt_checks(engine):
    with pytest.raises(InputError, match="context"):
        engine.check_prompt([1] * 1020, GenParams(max_new_tokens=10))
    with pytest.raises(InputError, match="empty"):
        engine.check_prompt([], GenParams())
    with pytest.raises(InputError, match="temperature"):
        GenParams(temperature=5)


def test_vllm_needs_gpu_and_package(tiny_package):
    with pytest.raises(ConfigError, match="GPU"):
        make_engine("vllm", llm_dir(tiny_package), device="cpu")
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(ConfigError, match="not installed"):
            make_engine("vllm", llm_dir(tiny_package), device="cuda")
    with pytest.raises(ConfigError, match="unknown"):
        make_engine("tgi", llm_dir(tiny_package))


class _FakeAsyncEngine:
    """Stands in for vllm.AsyncLLMEngine: cumulative RequestOutputs, abort() records ids."""

    def __init__(self, ids):
        self.ids, self.aborted, self.prompts = ids, [], []

    async def generate(self, prompt, params, request_id):
        self.prompts.append(prompt)
        for i in range(1, len(self.ids) + 1):
            await asyncio.sleep(0)
            yield SimpleNamespace(outputs=[SimpleNamespace(token_ids=self.ids[:i])],
                                  finished=i == len(self.ids))

    async def abort(self, request_id):
        self.aborted.append(request_id)


def test_vllm_engine_streams_new_ids_and_aborts_on_disconnect(tiny_package, monkeypatch):
    from ichigo.engines.vllm_engine import VLLMEngine

    eng = VLLMEngine(llm_dir(tiny_package), engine=_FakeAsyncEngine([]))
    tok = eng.tokenizer
    eot = next(iter(tok.stop_ids))
    fake = _FakeAsyncEngine([10, 11, 12, eot])
    eng.engine = fake
    monkeypatch.setattr(eng, "_params", lambda params: params)
    p = _prompt(eng)

    async def run(limit=None):
        out = []
        agen = eng.astream(p, GenParams(max_new_tokens=8))
        async for t in agen:
            out.append(t)
            if limit and len(out) == limit:
                break
        await agen.aclose()
        return out

    assert asyncio.run(run()) == [10, 11, 12]  # stop id dropped, cumulative outputs sliced
    assert fake.prompts[0] == {"prompt_token_ids": p} and fake.aborted == []
    assert asyncio.run(run(limit=1)) == [10]
    assert len(fake.aborted) == 1  # the client left: vLLM frees the sequence
    assert list(eng.stream(p, GenParams(max_new_tokens=8))) == [10, 11, 12]  # sync bridge
    eng.close()


def test_model_slot_swaps_without_dropping_in_flight():
    closed = []
    slot = ModelSlot("m1", "1", close=closed.append)
    with slot.lease() as (m, v):
        assert (m, v) == ("m1", "1")
        assert slot.swap("m2", "2") == "1"
        assert slot.version == "2" and closed == []  # still in use by this request
        with slot.lease() as (m2, v2):
            assert (m2, v2) == ("m2", "2")  # new requests see the new model at once
    assert closed == ["m1"]
    slot.swap("m3", "3")
    assert closed == ["m1", "m2"]  # idle: closed right away


def test_model_slot_is_thread_safe():
    slot = ModelSlot(0, "0")
    seen = []

    def worker():
        for _ in range(200):
            with slot.lease() as (m, v):
                seen.append((m, v))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(1, 50):
        slot.swap(i, str(i))
    for t in threads:
        t.join()
    assert all(str(m) == v for m, v in seen)


def test_coalescer_policy():
    from serving.coalesce import Coalescer

    now = [0.0]
    co = Coalescer(0.04, flush_now=lambda d: d.endswith(". "), clock=lambda: now[0])
    assert co.push("Hel") == "Hel"  # the first delta at once (time to first token)
    now[0] = 0.01
    assert co.push("lo") is None and co.due_in() == pytest.approx(0.03)
    assert co.push(". ") == "lo. "  # a sentence ended: at once (its TTS can start)
    now[0] = 0.02
    assert co.push("a") is None
    now[0] = 0.07
    assert co.push("b") == "ab"  # waited the interval
    assert co.due_in() is None and co.take() == ""


def test_text_pieces_coalesce_in_the_generation_thread(engine):
    from ichigo.assistant import stream_text
    from serving.coalesce import text_pieces

    p, params = _prompt(engine), GenParams(max_new_tokens=24)
    want = "".join(stream_text(engine, p, params))
    n_tokens = len(list(engine.stream(p, params)))

    async def collect():
        return [x async for x in text_pieces(engine, p, params, interval=10.0)]
    got = asyncio.run(collect())
    assert "".join(t for t, _, _ in got) == want
    assert got[-1][1] and not any(last for _, last, _ in got[:-1]) and got[-1][2] == n_tokens
    assert len(got) < n_tokens  # fewer messages than tokens


def test_text_pieces_on_an_async_engine(tiny_package, monkeypatch):
    """vLLM-style engines (tokens on the event loop) get the same pieces, with a loop timer."""
    from ichigo.engines.vllm_engine import VLLMEngine
    from serving.coalesce import text_pieces

    eng = VLLMEngine(llm_dir(tiny_package), engine=_FakeAsyncEngine([]))
    ids = eng.tokenizer.encode("Hello there. How are you?")
    eng.engine = _FakeAsyncEngine(ids + [next(iter(eng.tokenizer.stop_ids))])
    monkeypatch.setattr(eng, "_params", lambda params: params)

    async def collect():
        return [x async for x in text_pieces(eng, _prompt(eng), GenParams(max_new_tokens=32), interval=10.0)]
    got = asyncio.run(collect())
    assert "".join(t for t, _, _ in got) == eng.tokenizer.decode(ids)
    assert got[0][0] and got[-1][1] and got[-1][2] == len(ids)
    assert any("there. " in t for t, _, _ in got[:-1])  # the first sentence went out on its own
    eng.close()
