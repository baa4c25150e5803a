"""The sound-token vocabulary: 513 WhisperVQ codes plus start/end markers.

Order matters and is fixed: `<|sound_start|>`, `<|sound_end|>`, then `<|sound_0000|>` ..
`<|sound_0512|>`, appended after the base vocabulary whatever its size. On a Llama-3.1 vocabulary
(128256 tokens) that gives 128256/128257 for the markers and 128258..128770 for the codes; on
SmolLM2's (49152) 49152..49666. Code derives the ids from the tokenizer (SoundVocab), never
from a constant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from ichigo.errors import InputError

NUM_CODES = 512  # real codebook entries
PAD_CODE = 512  # WhisperVQ's mask/pad code
NUM_SOUND_TOKENS = NUM_CODES + 1
FRAME_RATE_HZ = 25  # sound tokens per second of 16 kHz audio
SAMPLE_RATE = 16_000

SOUND_START = "<|sound_start|>"
SOUND_END = "<|sound_end|>"

_SOUND_RE = re.compile(r"<\|sound_(\d{4})\|>")
_SPAN_RE = re.compile(re.escape(SOUND_START) + r"((?:<\|sound_\d{4}\|>)*)" + re.escape(SOUND_END))


def sound_token(code: int) -> str:
    if not 0 <= code < NUM_SOUND_TOKENS:
        raise ValueError(f"sound code {code} out of range 0..{NUM_SOUND_TOKENS - 1}")
    return f"<|sound_{code:04d}|>"


NEW_TOKENS: tuple[str, ...] = (SOUND_START, SOUND_END) + tuple(
    sound_token(c) for c in range(NUM_SOUND_TOKENS)
)


def format_sound(codes: Iterable[int]) -> str:
    """Codes -> `<|sound_start|><|sound_0001|>...<|sound_end|>`."""
    return SOUND_START + "".join(sound_token(int(c)) for c in codes) + SOUND_END


def parse_sound(text: str) -> list[int]:
    """All sound codes in `text`, in order (markers ignored)."""
    return [int(m) for m in _SOUND_RE.findall(text)]


def sound_spans(text: str) -> list[list[int]]:
    """The code lists of each complete `<|sound_start|>...<|sound_end|>` span in `text`."""
    return [[int(c) for c in _SOUND_RE.findall(m)] for m in _SPAN_RE.findall(text)]


@dataclass(frozen=True)
class SoundVocab:
    """Maps codes to token ids once the vocabulary was extended at `base_vocab_size`."""

    base_vocab_size: int

    @property
    def start_id(self) -> int:
        return self.base_vocab_size

    @property
    def end_id(self) -> int:
        return self.base_vocab_size + 1

    @property
    def first_code_id(self) -> int:
        return self.base_vocab_size + 2

    @property
    def vocab_size(self) -> int:
        return self.base_vocab_size + len(NEW_TOKENS)

    def code_id(self, code: int) -> int:
        if not 0 <= code < NUM_SOUND_TOKENS:
            raise ValueError(f"sound code {code} out of range 0..{NUM_SOUND_TOKENS - 1}")
        return self.first_code_id + code

    def ids(self, codes: Sequence[int]) -> list[int]:
        """Codes -> `[start, code ids..., end]`."""
        return [self.start_id, *(self.code_id(int(c)) for c in codes), self.end_id]

    def is_sound_id(self, token_id: int) -> bool:
        return self.start_id <= token_id < self.vocab_size

    @classmethod
    def from_vocab(cls, vocab: Mapping[str, int]) -> "SoundVocab | None":
        """The sound layout of a token->id map (None if it has no sound tokens); checks that all
        515 tokens sit contiguously in the fixed order."""
        if SOUND_START not in vocab:
            return None
        sv = cls(vocab[SOUND_START])
        for i, t in enumerate(NEW_TOKENS):
            if vocab.get(t) != sv.start_id + i:
                raise InputError(f"sound token {t} has id {vocab.get(t)}, expected {sv.start_id + i}: "
                                 "the vocabulary extension is corrupt")
        return sv

    def code_of(self, token_id: int) -> int:
        code = token_id - self.first_code_id
        if not 0 <= code < NUM_SOUND_TOKENS:
            raise ValueError(f"token id {token_id} is not a sound code")
        return code
