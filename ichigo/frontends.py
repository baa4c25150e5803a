"""How speech becomes the user's turn: early fusion (sound tokens the LLM reads directly) or the
cascade baseline (an ASR transcript the LLM reads as text).

Both take 16 kHz mono waves and give chat `Message`s for the one chat template, so evaluation,
benchmarks and serving compare the two on exactly the same LLM, prompt and decoding.
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from ichigo.chat_template import Message, user_audio


@runtime_checkable
class Transcriber(Protocol):
    def transcribe_batch(self, waves: list[np.ndarray]) -> list[str]: ...


class SpeechFrontEnd(Protocol):
    kind: str

    def user_turns(self, waves: Sequence[np.ndarray]) -> list[Message]: ...


class EarlyFusion:
    """Speech tokenizer codes inside <|sound_start|>...<|sound_end|>: the Ichigo way."""

    kind = "early_fusion"

    def __init__(self, speech_tokenizer):
        self.speech_tokenizer = speech_tokenizer

    def user_turns(self, waves: Sequence[np.ndarray]) -> list[Message]:
        return [user_audio(c) for c in self.speech_tokenizer.encode_batch(list(waves))]


class Cascade:
    """ASR first, then the transcript as a typed question (the paper's cascade baseline)."""

    kind = "cascade"

    def __init__(self, asr: Transcriber):
        self.asr = asr

    @staticmethod
    def turn(transcript: str) -> Message:
        # an empty transcript still makes a turn: the LLM answers it as it would a blank question
        return Message("user", transcript.strip() or "...")

    def user_turns(self, waves: Sequence[np.ndarray]) -> list[Message]:
        return [self.turn(t) for t in self.asr.transcribe_batch(list(waves))]


def as_front_end(obj) -> SpeechFrontEnd:
    """A front-end as is; a speech tokenizer wrapped as early fusion; an ASR as the cascade."""
    if hasattr(obj, "user_turns"):
        return obj
    if hasattr(obj, "encode_batch"):
        return EarlyFusion(obj)
    if isinstance(obj, Transcriber):
        return Cascade(obj)
    raise TypeError(f"{type(obj).__name__} is neither a speech tokenizer nor a transcriber")
