"""ASR round-trip gate: a synthesized clip must be heard as what it was meant to say.

Every synthesized speech clip is transcribed; a clip whose word error rate against its text exceeds
`data.asr_gate_max_wer` is dropped from training. Never silently: the row keeps its id with
`error` set (`asr_gate: wer=0.62 heard='...'`) and the corpus manifest and dataset card count the
drops per voice and per family. Broken synthetic speech (a voice that mumbles numbers, a clipped
render) then cannot reach training unseen.

The transcriber is anything with `transcribe_batch(waves) -> texts` (16 kHz float32 mono); the
profile's is Whisper via `ichigo.speech_tokenizer.whisper_asr.WhisperASR`, imported lazily.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import jiwer
import numpy as np

from ichigo.errors import ConfigError

_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
         "fifteen sixteen seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ((10 ** 9, "billion"), (10 ** 6, "million"), (1000, "thousand"), (100, "hundred"))
_ORDINAL = {"one": "first", "two": "second", "three": "third", "five": "fifth", "eight": "eighth",
            "nine": "ninth", "twelve": "twelfth"}
_NUM = re.compile(r"(\d[\d,]*)(st|nd|rd|th)?\b")


def number_words(n: int) -> str:
    """0 <= n < 10**12 in words, without "and" ("one hundred five"), as Whisper's text normalisers
    compare numbers: spelled out on both sides, so "42" and "forty-two" agree."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else " " + _ONES[n % 10])
    for scale, name in _SCALES:
        if n >= scale:
            head, rest = divmod(n, scale)
            return f"{number_words(head)} {name}" + ("" if rest == 0 else " " + number_words(rest))
    raise AssertionError(n)


def _ordinal(words: str) -> str:
    *head, last = words.split()
    if last in _ORDINAL:
        last = _ORDINAL[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last += "th"
    return " ".join([*head, last])


def _spell(m: re.Match) -> str:
    digits = m.group(1).replace(",", "")
    if not digits or len(digits) > 12:
        return m.group(0)
    words = number_words(int(digits))
    return " " + (_ordinal(words) if m.group(2) else words) + " "


def normalize_for_gate(text: str) -> str:
    """Lower case, numbers spelled out, hyphens and punctuation gone, apostrophes dropped
    ("it's" -> "its"), accents folded, whitespace collapsed."""
    t = unicodedata.normalize("NFKD", text or "")
    t = "".join(c for c in t if not unicodedata.combining(c)).lower()
    t = _NUM.sub(_spell, t)
    t = t.replace("'", "").replace("\u2019", "")
    t = re.sub(r"[^\w\s]|_", " ", t)
    return " ".join(t.split())


def gate_wer(reference: str, heard: str) -> float:
    ref, hyp = normalize_for_gate(reference), normalize_for_gate(heard)
    if not ref:
        return 0.0 if not hyp else 1.0
    return float(jiwer.wer(ref, hyp)) if hyp else 1.0


@runtime_checkable
class Transcriber(Protocol):
    def transcribe_batch(self, waves: list[np.ndarray]) -> list[str]: ...


@dataclass(frozen=True)
class GateVerdict:
    wer: float
    heard: str
    passed: bool

    @property
    def error(self) -> str:
        heard = " ".join(self.heard.split())[:120].replace("'", "\u2019")
        return f"asr_gate: wer={self.wer:.2f} heard='{heard}'"


class AsrGate:
    def __init__(self, transcriber: Transcriber, max_wer: float, batch_size: int = 16):
        if not isinstance(transcriber, Transcriber):
            raise ConfigError(f"{type(transcriber).__name__} has no transcribe_batch(waves): not a transcriber")
        self.transcriber, self.max_wer, self.batch_size = transcriber, max_wer, batch_size

    def check(self, texts: list[str], waves: list[np.ndarray]) -> list[GateVerdict]:
        if len(texts) != len(waves):
            raise ValueError(f"{len(texts)} texts but {len(waves)} clips")
        heard: list[str] = []
        for s in range(0, len(waves), self.batch_size):
            batch = waves[s:s + self.batch_size]
            got = self.transcriber.transcribe_batch(batch)
            if len(got) != len(batch):
                raise ValueError(f"transcriber returned {len(got)} texts for {len(batch)} clips")
            heard += [g or "" for g in got]
        out = []
        for t, h in zip(texts, heard):
            w = gate_wer(t, h)
            out.append(GateVerdict(w, h, w <= self.max_wer))
        return out


# Corpus texts are one sentence (< 30 words). A decode still running past this is a hallucination
# loop: it fails the gate either way, and capping it saves most of the gate's time on bad clips.
GATE_MAX_NEW_TOKENS = 64


def load_transcriber(model: str, window_seconds: float | None = None) -> Transcriber:
    """The profile's Whisper transcriber (built once per worker process by the caller). Its
    encoder computes in bf16 where the CPU has native bf16 (ichigo.precision): the gate compares a
    WER against a threshold, and bf16 changed no verdict while taking 1/3 off the gate's time."""
    from ichigo.precision import cpu_supports_bf16

    try:
        from ichigo.speech_tokenizer.whisper_asr import WhisperASR
    except ImportError as e:
        raise ConfigError(f"data.asr_gate needs ichigo.speech_tokenizer.whisper_asr ({e}); "
                          "set data.asr_gate: false to build without the ASR gate") from None
    return WhisperASR.load(model=model, window_seconds=window_seconds, max_new_tokens=GATE_MAX_NEW_TOKENS,
                           bf16_encoder=cpu_supports_bf16())
