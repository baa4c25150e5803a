"""The in-process turn logic (no Ray): incremental decoding, sentence chunks, limits, turns."""

from __future__ import annotations

import numpy as np
import pytest

from ichigo.assistant import (Assistant, AudioChunk, BadText, Done, SentenceChunker, TextDelta,
                              TooLarge, check_text, conversation, decode_audio)
from ichigo.chat_template import Message, user_audio
from ichigo.config import load_profile
from ichigo.errors import InputError


@pytest.fixture(scope="module")
def assistant(tiny_package):
    return Assistant.load(tiny_package, load_profile("local"))


def test_sentence_chunker_waits_for_whitespace_and_flushes():
    c = SentenceChunker()
    out = []
    for piece in ["Pi is 3", ".14. It", " is e.g", ". irrational! Next"]:
        out += c.push(piece)
    assert out == ["Pi is 3.14.", "It is e.g.", "irrational!"]
    assert c.flush() == ["Next"]
    assert SentenceChunker().push("... !!! \n") == []  # nothing speakable


def test_sentence_chunker_cuts_long_unpunctuated_text():
    c = SentenceChunker(max_chars=20)
    out = c.push("word " * 10)
    assert out and all(len(s) <= 20 for s in out)


def test_incremental_decoder_never_splits_multibyte(assistant):
    from ichigo.engines import IncrementalDecoder

    tok = assistant.engine.tokenizer
    text = "héllo wörld ☃ 東京 ok"
    ids = tok.encode_text(text)
    dec = IncrementalDecoder(tok)
    deltas = [d for d in (dec.push(i) for i in ids) if d] + [dec.flush()]
    assert "".join(deltas) == text
    assert not any("\ufffd" in d for d in deltas)
    assert len([d for d in deltas if d]) > 1  # it really streamed


def test_text_checks():
    assert check_text("hi".encode(), 10) == "hi"
    with pytest.raises(BadText, match="UTF-8"):
        check_text(b"\xff\xfe bad", 10)
    with pytest.raises(BadText, match="empty"):
        check_text("   ", 10)
    with pytest.raises(BadText, match="limit is 3"):
        check_text("abcd", 3)


def test_audio_limits(tiny_package):
    from ichigo.audio import wav_bytes

    t = np.arange(16000 * 3) / 16000
    wav = wav_bytes((0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))
    assert len(decode_audio(wav, 10**7, 10.0)) == 48000
    with pytest.raises(TooLarge, match="limit is 100 bytes"):
        decode_audio(wav, 100, 10.0)
    with pytest.raises(InputError, match="limit is 2 s"):
        decode_audio(wav, 10**7, 2.0)
    with pytest.raises(InputError, match="empty"):
        decode_audio(b"", 10**7, 2.0)
    with pytest.raises(InputError, match="could not be decoded"):
        decode_audio(b"RIFF....garbage" * 10, 10**7, 2.0)
    with pytest.raises(InputError, match="silent"):
        decode_audio(wav_bytes(np.zeros(16000, np.float32)), 10**7, 2.0)


def test_conversation_rules():
    u = Message("user", "hi")
    msgs = conversation([Message("user", "a"), Message("assistant", "b")], u, "Be brief.")
    assert [m.role for m in msgs] == ["system", "user", "assistant", "user"]
    with pytest.raises(InputError, match="last message"):
        conversation([], Message("assistant", "x"), None)
    with pytest.raises(InputError, match="only come first"):
        conversation([u, Message("system", "s")], u, None)


def test_turn_streams_text_then_audio_then_done(assistant, tiny_package):
    from ichigo.tts import EspeakTTS
    from ichigo.audio import wav_bytes

    wav = wav_bytes(EspeakTTS().synthesize(["What is the capital of France?"], "en-us")[0])
    codes = assistant.encode_audio(wav)
    assert 25 <= len(codes) <= 100 and all(0 <= c < 64 for c in codes)
    events = list(assistant.turn(assistant.messages_for(user_audio(codes))))
    assert isinstance(events[-1], Done) and events[-1].text
    deltas = [e for e in events if isinstance(e, TextDelta)]
    audio = [e for e in events if isinstance(e, AudioChunk)]
    assert "".join(d.text for d in deltas) == events[-1].text
    assert audio and [a.index for a in audio] == list(range(len(audio)))
    assert all(a.wav[:4] == b"RIFF" for a in audio)
    # a chunk comes only after the text it speaks has streamed
    seen = ""
    for e in events:
        if isinstance(e, TextDelta):
            seen += e.text
        elif isinstance(e, AudioChunk):
            assert e.text.split()[0] in seen
    # the sync helpers give the same greedy answer
    assert assistant.respond_audio(wav) == events[-1].text


def test_multi_turn_history_changes_prompt(assistant):
    first = assistant.respond_text("Hello there.")
    hist = [Message("user", "Hello there."), Message("assistant", first)]
    assert isinstance(assistant.respond_text("And then?", history=hist), str)
    with pytest.raises(InputError, match="context"):
        assistant.respond_text("x " * 2000)
