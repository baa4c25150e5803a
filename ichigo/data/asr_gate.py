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

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import jiwer
import numpy as np

from ichigo.errors import ConfigError
from ichigo.transcripts import normalize_transcript


def gate_wer(reference: str, heard: str) -> float:
    ref, hyp = normalize_transcript(reference), normalize_transcript(heard)
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
