"""The turn engine (serving/turn_engine.py) over fake handles, without Ray: a normal spoken turn,
an LLM replica dying mid-stream, TTS pipelined per sentence, and errors mid-stream."""

from __future__ import annotations

import asyncio
import time

import pytest

from ichigo.chat_template import Message, Sound
from serving.errors import ApiError, ClientError
from serving.metrics import Metrics
from serving.turn_engine import TurnEngine
from serving.turn_events import Finished, Speech, Started, TextDelta
from serving.versions import new_request
from tests.serving.fake_handles import Died, FakeLLM, FakeSpeech, FakeTTS, Gate, end, start, text

ROUTE = "test"


def make(speech=None, llm=None, tts=None, **kw) -> TurnEngine:
    return TurnEngine(speech, llm, tts, Metrics(), death=(Died,), **kw)


async def turn_events(engine: TurnEngine, messages=None, speak: bool = True) -> tuple[Started, list]:
    """The whole reply as a list; the turn is closed however it ends."""
    turn = await engine.open(messages or [Message("user", "hi")], route=ROUTE, t0=time.perf_counter())
    out: list = []
    try:
        async for ev in turn.reply(engine.synthesize if speak else None):
            out.append(ev)
    finally:
        await turn.aclose()
    return turn.started, out


def texts(events: list) -> list[str]:
    return [e.text for e in events if isinstance(e, TextDelta)]


def metric(engine: TurnEngine, name: str, labels: dict | None = None) -> float | None:
    return engine.metrics.registry.get_sample_value(name, labels or {})


def test_spoken_turn_codes_text_speech_and_finish():
    speech = FakeSpeech({"codes": [4, 5, 6], "version": "3"})
    llm = FakeLLM([start(), text("Hello there. "), text("How are"), end(" you?")])
    tts = FakeTTS()
    eng = make(speech, llm, tts)

    async def go():
        new_request()
        part = await eng.user_part(b"RIFF...")
        return part, await turn_events(eng, [Message("user", [part])])

    part, (started, evs) = asyncio.run(go())
    assert part == Sound([4, 5, 6])
    assert llm.calls[0]["versions"] == ["3"]  # the codes' version travels with the request
    assert started == Started(version="3", prompt_tokens=7)
    assert texts(evs) == ["Hello there. ", "How are", " you?"]  # the last piece rode on `end`
    speeches = [e for e in evs if isinstance(e, Speech)]
    assert [(s.index, s.sentence, s.audio) for s in speeches] == [
        (0, "Hello there.", b"wav:Hello there."), (1, "How are you?", b"wav:How are you?")]
    # a sentence's audio never comes before the text that completes it
    assert evs.index(speeches[0]) > evs.index(TextDelta("Hello there. "))
    assert evs.index(speeches[1]) > evs.index(TextDelta(" you?"))
    last = evs[-1]
    assert isinstance(last, Finished) and last.finish_reason == "stop" and last.completion_tokens == 5
    assert last.ttft is not None and last.ttft > 0
    assert metric(eng, "ichigo_time_to_first_token_seconds_count", {"route": ROUTE}) == 1
    assert metric(eng, "ichigo_time_to_first_audio_seconds_count", {"route": ROUTE}) == 1


def test_text_only_turn_never_calls_tts():
    llm = FakeLLM([start(), text("One. Two. "), end()])
    tts = FakeTTS()
    _, evs = asyncio.run(turn_events(make(llm=llm, tts=tts), speak=False))
    assert texts(evs) == ["One. Two. "] and not any(isinstance(e, Speech) for e in evs)
    assert tts.log == []


def test_cascade_front_end_gives_text_and_refuses_realtime_codes():
    eng = make(FakeSpeech({"text": "what is two plus two"}))
    assert asyncio.run(eng.user_part(b"x")) == "what is two plus two"
    with pytest.raises(ApiError) as e:
        asyncio.run(eng.sound_codes(b"x"))
    assert e.value.status == 400 and e.value.type == "front_end_unsupported"


def test_llm_replica_dies_mid_stream_and_the_replay_skips_what_was_sent():
    llm = FakeLLM([start(), text("Hello there. "), text("How ar"), Died("replica gone")],
                  [start(), text("Hello there. "), text("How are"), end(" you?")])  # greedy: same text
    eng = make(llm=llm, tts=FakeTTS())
    started, evs = asyncio.run(turn_events(eng))
    assert started.version == "3" and len(llm.calls) == 2
    assert texts(evs) == ["Hello there. ", "How ar", "e", " you?"]  # nothing twice, nothing lost
    assert [e.sentence for e in evs if isinstance(e, Speech)] == ["Hello there.", "How are you?"]
    assert isinstance(evs[-1], Finished) and evs[-1].completion_tokens == 5
    assert metric(eng, "ichigo_llm_failovers_total") == 1


def test_replica_dead_before_start_is_invisible():
    llm = FakeLLM([Died("gone")], [start(version="4"), end("Hi.")])
    eng = make(llm=llm)
    started, evs = asyncio.run(turn_events(eng, speak=False))
    assert started.version == "4" and texts(evs) == ["Hi."]
    assert metric(eng, "ichigo_llm_failovers_total") == 1


def test_third_dead_replica_is_an_error():
    llm = FakeLLM([Died("1")], [Died("2")], [Died("3")])
    eng = make(llm=llm)
    with pytest.raises(Died):
        asyncio.run(turn_events(eng))
    assert len(llm.calls) == 3 and metric(eng, "ichigo_llm_failovers_total") == 2


def test_replay_that_diverges_is_an_error_not_a_spliced_reply():
    llm = FakeLLM([start(), text("Yes, "), Died("gone")], [start(), text("No, "), end("never.")])
    got: list = []

    async def go():
        turn = await make(llm=llm).open([Message("user", "hi")], route=ROUTE, t0=time.perf_counter())
        try:
            async for ev in turn.reply(None):
                got.append(ev)
        finally:
            await turn.aclose()

    with pytest.raises(RuntimeError, match="diverged"):
        asyncio.run(go())
    assert texts(got) == ["Yes, "]


def test_tts_runs_per_sentence_while_text_streams_and_audio_keeps_sentence_order():
    tts = FakeTTS(delays={"One.": 0.2})  # the first sentence is slow to speak, the second fast

    async def go():
        # the LLM sends its second sentence only once the first one's TTS has begun: without
        # pipelining this would wait for the end of the reply and time out
        llm = FakeLLM([start(), text("One. "), Gate(tts.started_event("One."), 2.0), text("Two. "), end()])
        return await turn_events(make(llm=llm, tts=tts))

    _, evs = asyncio.run(go())
    assert tts.log.index(("end", "Two.")) < tts.log.index(("end", "One."))  # synthesized in parallel
    kinds = [(type(e).__name__, getattr(e, "index", None)) for e in evs]
    # text is not held back by slow audio; audio still comes in sentence order
    assert kinds == [("TextDelta", None), ("TextDelta", None), ("Speech", 0), ("Speech", 1), ("Finished", None)]


def test_a_sentence_is_heard_while_the_llm_still_generates():
    heard = asyncio.Event()
    got: list = []

    async def go():
        # the LLM goes on only once the reader has the first sentence's audio: audio that waited
        # for the end of the reply would time out here
        llm = FakeLLM([start(), text("One. "), Gate(heard, 2.0), end("Two.")])
        eng = make(llm=llm, tts=FakeTTS())
        turn = await eng.open([Message("user", "hi")], route=ROUTE, t0=time.perf_counter())
        try:
            async for ev in turn.reply(eng.synthesize):
                got.append(ev)
                if isinstance(ev, Speech):
                    heard.set()
        finally:
            await turn.aclose()

    asyncio.run(go())
    assert [type(e).__name__ for e in got] == ["TextDelta", "Speech", "TextDelta", "Speech", "Finished"]


async def _reply_into(eng, got: list, after_close=None) -> None:
    """One turn's events into `got`; the turn is closed (then `after_close` awaited) even when
    the reply raises."""
    turn = await eng.open([Message("user", "hi")], route=ROUTE, t0=time.perf_counter())
    try:
        async for ev in turn.reply(eng.synthesize):
            got.append(ev)
    finally:
        await turn.aclose()
        if after_close is not None:
            await after_close()


def test_llm_error_mid_stream_cancels_pending_speech():
    tts = FakeTTS(delays={"Fine.": 5.0})
    llm = FakeLLM([start(), text("Fine. "), text("Then"), RuntimeError("engine crashed")])
    got: list = []
    log_after_close: list = []

    async def after_close():
        await asyncio.sleep(0)  # let the cancelled TTS task run its handler
        log_after_close.extend(tts.log)  # before asyncio.run cancels whatever is left

    with pytest.raises(RuntimeError, match="engine crashed"):
        asyncio.run(_reply_into(make(llm=llm, tts=tts), got, after_close))
    assert texts(got) == ["Fine. ", "Then"] and not any(isinstance(e, Speech) for e in got)
    assert ("cancelled", "Fine.") in log_after_close


def test_tts_error_mid_stream_reaches_the_reader_after_the_text():
    tts = FakeTTS(fail={"Two.": ClientError("the TTS cannot say that")})
    llm = FakeLLM([start(), text("One. "), text("Two. "), end()])
    got: list = []

    with pytest.raises(ClientError):
        asyncio.run(_reply_into(make(llm=llm, tts=tts), got))
    assert [e.index for e in got if isinstance(e, Speech)] == [0]  # sentence 0 still went out


def test_prompt_refused_before_start_raises_from_open():
    llm = FakeLLM([ClientError("the prompt is 9000 tokens; the model takes 2048", 400)])
    with pytest.raises(ClientError, match="9000 tokens"):
        asyncio.run(turn_events(make(llm=llm)))
    assert len(llm.calls) == 1  # bad input is not retried


def test_unary_calls_survive_a_dead_replica():
    speech = FakeSpeech({"codes": [1], "version": "3"}, deaths=2)
    eng = make(speech)
    assert asyncio.run(eng.sound_codes(b"x")) == [1]
    assert speech.calls == 3 and metric(eng, "ichigo_llm_failovers_total") == 2
    with pytest.raises(Died):
        asyncio.run(make(FakeSpeech({"codes": [1]}, deaths=3)).user_part(b"x"))


def test_speakable_tts_says_numbers_as_words_but_keeps_the_text():
    tts = FakeTTS()
    eng = make(llm=FakeLLM([start(), end("It is 3 km.")]), tts=tts, speakable_tts=True)
    _, evs = asyncio.run(turn_events(eng))
    assert texts(evs) == ["It is 3 km."]
    said = tts.args[0][0]
    assert "3" not in said and "three" in said.lower()
    assert [e.sentence for e in evs if isinstance(e, Speech)] == ["It is 3 km."]
