"""The speech tokenizer's package version travels with the codes (serving/versions.py): an LLM
replica of another version refuses them, and the turn engine retries on another replica or answers
503, never a reply from mismatched codes."""

from __future__ import annotations

import asyncio

import pytest

from serving.errors import ApiError
from serving.metrics import Metrics
from serving.turn_engine import TurnEngine
from serving.turn_events import Started
from serving.versions import (CodesVersionMismatch, check_codes_version, codes_versions, new_request,
                              note_codes_version)


def test_llm_side_check():
    check_codes_version(None, "3")  # text only: any version
    check_codes_version(["3"], "3")
    with pytest.raises(CodesVersionMismatch, match=r"\['2'\].*version 3"):
        check_codes_version(["2"], "3")
    with pytest.raises(CodesVersionMismatch):
        check_codes_version(["2", "3"], "3")  # two audio parts from different versions


def test_request_context_is_shared_by_child_tasks():
    async def go():
        new_request()
        await asyncio.gather(*(asyncio.ensure_future(_note(v)) for v in ("4", "4")))
        return codes_versions()

    async def _note(v):
        note_codes_version(v)

    assert asyncio.run(go()) == {"4"}


class FakeLLM:
    """Replicas in round-robin: the first `stale` calls land on a replica of the old version."""

    def __init__(self, versions: list[str]):
        self.versions, self.calls = versions, []

    def remote(self, messages, max_new, temperature, codes_version=None):
        replica = self.versions[len(self.calls) % len(self.versions)]
        self.calls.append((replica, codes_version))

        async def stream():
            check_codes_version(codes_version, replica)
            yield {"type": "start", "version": replica}
            yield {"type": "end", "delta": f"from {replica}"}
        return stream()


def engine_with(llm: FakeLLM) -> TurnEngine:
    return TurnEngine(None, type("H", (), {"generate": llm})(), None, Metrics(), death=())


async def collect(engine: TurnEngine, codes_version):
    new_request()
    note_codes_version(codes_version)
    return [ev async for ev in engine.llm_events([{"role": "user", "content": "x"}], None, None)]


def test_mismatch_is_retried_on_a_matching_replica():
    llm = FakeLLM(["1", "2"])  # mid-rollout: one old, one new replica
    evs = asyncio.run(collect(engine_with(llm), "2"))
    assert evs[0] == Started(version="2") and evs[1].text == "from 2"
    assert [c[0] for c in llm.calls] == ["1", "2"]


def test_no_matching_replica_is_a_503_not_a_wrong_answer():
    llm = FakeLLM(["1"])
    with pytest.raises(ApiError) as e:
        asyncio.run(collect(engine_with(llm), "2"))
    assert e.value.status == 503 and e.value.type == "model_updating"
