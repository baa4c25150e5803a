"""The cascade baseline asks the LLM what the ASR heard, and is scored like early fusion."""

import numpy as np

from ichigo.audio import wav_bytes
from ichigo.chat_template import Sound
from ichigo.eval.cascade import cascade_speech_qa
from ichigo.eval.judge import OfflineJudge
from ichigo.eval.latency import first_token_ms
from ichigo.frontends import Cascade, EarlyFusion, as_front_end
from ichigo.records import EvalItem


class LengthASR:
    """A transcriber whose text is a function of the audio (its length in tenths of a second)."""

    def __init__(self):
        self.calls = 0

    def transcribe_batch(self, waves):
        self.calls += 1
        return [f"heard {len(w) // 1600}" for w in waves]


def _items(n=3):
    return [EvalItem(f"q{i}", "qa", f"question {i}", "Tokyo", "v", [1, 2, 3],
                     wav_bytes(np.full(16000 + 1600 * i, 0.1, np.float32))) for i in range(n)]


def test_front_ends_build_the_right_turns():
    waves = [np.zeros(3200, np.float32)]
    assert Cascade(LengthASR()).user_turns(waves)[0].parts == ("heard 2",)

    class Codes:
        def encode_batch(self, ws):
            return [[7] * (len(w) // 640) for w in ws]
    turn = EarlyFusion(Codes()).user_turns(waves)[0]
    assert isinstance(turn.parts[0], Sound) and list(turn.parts[0].codes) == [7] * 5
    assert isinstance(as_front_end(LengthASR()), Cascade) and isinstance(as_front_end(Codes()), EarlyFusion)
    assert Cascade.turn("  ").parts == ("...",)


def test_cascade_qa_prompts_with_the_transcript(tiny_llm_dir, tmp_path):
    from ichigo.model.checkpoint import load_pretrained
    from tests.conftest import teach_reply

    lm = load_pretrained(teach_reply(tiny_llm_dir, tmp_path / "m", "Tokyo", steps=60))
    res, heard = cascade_speech_qa(lm, LengthASR(), _items(), OfflineJudge(), max_new_tokens=4, batch_size=2)
    assert heard == {"q0": "heard 10", "q1": "heard 11", "q2": "heard 12"}
    assert [r["heard"] for r in res.predictions] == ["heard 10", "heard 11", "heard 12"]
    assert res.exact == 1.0 and res.n == 3
    assert first_token_ms(lm, LengthASR(), _items(1)[0].audio_wav) > 0
