"""Session state without a server: session.update validation, context trimming, heard text."""

from __future__ import annotations

import pytest

from ichigo.chat_template import Sound
from ichigo.vad import VadSettings
from serving.realtime.config import SessionConfig, TurnDetection, apply_update
from serving.realtime.conversation import MESSAGE_OVERHEAD, Conversation, Item
from serving.realtime.protocol import ProtocolError, decode_pcm16, parse_event
from serving.realtime.session import Run

CFG = SessionConfig(model="m", instructions="be brief", voice="en-us", turn_detection=TurnDetection(VadSettings()))


def update(session: dict) -> SessionConfig:
    return apply_update(CFG, session, VadSettings(), {"en-us"}, 64, "ev1")


def test_session_update_changes_only_what_is_given():
    new = update({"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad",
                                                                             "silence_duration_ms": 300}}}})
    assert new.turn_detection.vad.silence_duration_ms == 300 and new.turn_detection.vad.threshold == 0.5
    assert new.instructions == "be brief"
    assert update({"audio": {"input": {"turn_detection": None}}}).turn_detection is None
    assert update({"max_output_tokens": 1000}).max_output_tokens == 64  # capped by the profile
    assert update({"output_modalities": ["text"]}).output_modalities == ("text",)
    js = new.to_json("sess_1", 0)
    assert js["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}


@pytest.mark.parametrize("session, code, param", [
    ({"audio": {"input": {"format": {"type": "audio/pcm", "rate": 16000}}}}, "invalid_audio_format",
     "session.audio.input.format.rate"),
    ({"audio": {"output": {"voice": "nobody"}}}, "invalid_value", "session.audio.output.voice"),
    ({"audio": {"input": {"turn_detection": {"type": "semantic_vad"}}}}, "invalid_value",
     "session.audio.input.turn_detection.type"),
    ({"audio": {"input": {"turn_detection": {"threshold": 2}}}}, "invalid_value",
     "session.audio.input.turn_detection"),
    ({"tools": [{"type": "function", "name": "f"}]}, "unsupported_feature", "session.tools"),
    ({"wat": 1}, "unknown_parameter", "session.wat"),
    ("nope", "missing_required_parameter", "session"),
])
def test_bad_session_updates_name_the_field(session, code, param):
    with pytest.raises(ProtocolError) as e:
        update(session)
    assert (e.value.code, e.value.param, e.value.event_id) == (code, param, "ev1")


def test_parse_event_errors():
    for raw, code in (("{", "invalid_json"), ("1", "invalid_event"), ('{"type": 3}', "missing_required_parameter"),
                      ('{"type": "x.y"}', "invalid_event_type"), ("x" * 100, "event_too_large")):
        with pytest.raises(ProtocolError) as e:
            parse_event(raw, 50)
        assert e.value.code == code
    with pytest.raises(ProtocolError, match="container"):
        decode_pcm16("UklGRiQAAABXQVZF", None)  # b"RIFF...WAVE"


def test_oldest_turns_are_dropped_whole_within_budget():
    conv = Conversation()
    for i in range(4):
        conv.add(Item(f"u{i}", "user", [Sound([1] * 50)]))
        conv.add(Item(f"a{i}", "assistant", ["ok"], tokens=3))
    per_pair = (52 + MESSAGE_OVERHEAD) + (3 + MESSAGE_OVERHEAD)
    dropped = conv.fit(2 * per_pair)
    assert [i.id for i in dropped] == ["u0", "a0", "u1", "a1"]
    assert [i.id for i in conv.items] == ["u2", "a2", "u3", "a3"]
    msgs = conv.messages("sys")
    assert [m.role for m in msgs] == ["system", "user", "assistant", "user", "assistant"]
    # a reply goes with the user turn before it; the newest item always stays
    assert [i.id for i in conv.fit(1)] == ["u2", "a2", "u3"]
    assert [i.id for i in conv.items] == ["a3"]


def test_consecutive_user_items_become_one_message():
    conv = Conversation()
    conv.add(Item("t", "user", ["Listen:"], kind="text"))
    conv.add(Item("s", "user", [Sound([5, 6])]))
    msgs = conv.messages(None)
    assert len(msgs) == 1 and msgs[0].parts[0] == "Listen:" and isinstance(msgs[0].parts[-1], Sound)


def test_heard_text_follows_the_played_audio():
    run = Run("r", Item("a", "assistant", [""]), None, ("audio",), "")
    run.spoken = [("One two three four.", 1000), ("Five six.", 500)]
    assert run.heard_text(0) == ""
    assert run.heard_text(500) == "One two"
    assert run.heard_text(1000) == "One two three four."
    assert run.heard_text(1250) == "One two three four. Five"
    assert run.heard_text(5000) == "One two three four. Five six."


def test_input_audio_cuts_the_turn_the_vad_heard():
    import numpy as np

    from ichigo.audio import resample
    from ichigo.vad import SpeechStarted, SpeechStopped
    from serving.realtime.input_audio import InputAudio
    from tests.conftest import need_binary
    from tests.serving.helpers import speech_wave

    need_binary("espeak-ng")
    q = speech_wave("What is the capital of France?")
    x = np.concatenate([np.zeros(16000, np.float32), q, np.zeros(16000, np.float32)])
    pcm = (resample(x, 16000, 24000) * 32767).astype("<i2").tobytes()
    audio, events, turn = InputAudio(10.0), [], b""
    for i in range(0, len(pcm), 2 * 1234):  # odd chunk sizes: not a multiple of 3 samples
        for e in audio.append(pcm[i:i + 2 * 1234], VadSettings()):
            events.append(e)
            if isinstance(e, SpeechStopped):
                turn = audio.take(events[0].audio_start_ms, e.audio_end_ms)
        if not events:
            audio.keep_last(1300)
    assert [type(e) for e in events] == [SpeechStarted, SpeechStopped]
    q_ms = 1000 * len(q) / 16000
    assert q_ms * 0.8 <= 1000 * len(turn) / 48000 <= q_ms + 400  # the question plus padding
    assert audio.start == events[1].audio_end_ms * 24  # the buffer now starts where the turn ended
    assert audio.start * 2 + len(audio) == len(pcm)
