"""A session's input audio buffer (PCM16, 24 kHz) and the server VAD that listens to it.

The buffer holds what was appended since the last commit/clear, positioned on the stream's clock
(samples since the session began), so the VAD's `audio_start_ms` / `audio_end_ms` cut exactly the
turn's audio out of it. The VAD hears the stream at 16 kHz: appends are resampled in runs of a
multiple of 3 samples (24 -> 16 kHz is exactly 3 -> 2), so chunking never shifts its clock.
"""

from __future__ import annotations

import numpy as np

from ichigo.audio import resample
from ichigo.vad import StreamingVad, VadEvent, VadSettings
from serving.realtime.protocol import PCM_RATE


def pcm_ms(nbytes: int) -> int:
    return nbytes * 1000 // (2 * PCM_RATE)


def pcm_to_float(data: bytes) -> np.ndarray:
    return np.frombuffer(data, "<i2").astype(np.float32) / 32768.0


class InputAudio:
    def __init__(self, max_seconds: float):
        self.buf, self.start, self.pos = bytearray(), 0, 0  # start/pos: samples on the stream clock
        self.max_seconds = max_seconds
        self.max_bytes = int(max_seconds * PCM_RATE) * 2
        self.vad: StreamingVad | None = None
        self._rest = np.zeros(0, np.float32)  # samples waiting for a multiple of 3

    def __len__(self) -> int:
        return len(self.buf)

    def append(self, pcm: bytes, vad: VadSettings | None) -> list[VadEvent]:
        """Add audio; with `vad` settings, the turn events it caused."""
        self.buf += pcm
        self.pos += len(pcm) // 2
        if vad is None:  # VAD off: a later one starts fresh, its clock aligned to the stream
            self.vad, self._rest = None, np.zeros(0, np.float32)
            return []
        if self.vad is None:
            self.vad = StreamingVad(vad, max_turn_seconds=self.max_seconds)
            self.vad.samples = (self.pos - len(pcm) // 2) * 2 // 3
        else:
            self.vad.update(vad)
        x = np.concatenate([self._rest, pcm_to_float(pcm)])
        n = len(x) // 3 * 3
        self._rest = x[n:]
        return self.vad.feed(resample(x[:n], PCM_RATE, 16000)) if n else []

    def keep_last(self, ms: int) -> None:
        """Outside speech only the prefix padding of a coming turn is needed."""
        keep = 2 * (PCM_RATE * ms // 1000)
        if len(self.buf) > keep:
            cut = (len(self.buf) - keep) // 2 * 2
            del self.buf[:cut]
            self.start += cut // 2

    def take(self, start_ms: int, end_ms: int) -> bytes:
        """The audio between two stream times; everything up to `end_ms` leaves the buffer."""
        a = max(0, start_ms * PCM_RATE // 1000 - self.start) * 2
        b = max(a, end_ms * PCM_RATE // 1000 - self.start) * 2
        audio = bytes(self.buf[a:b])
        del self.buf[:b]
        self.start += b // 2
        return audio

    def take_all(self) -> bytes:
        audio = bytes(self.buf)
        self.clear()
        return audio

    def clear(self) -> None:
        self.buf, self.start = bytearray(), self.pos
        if self.vad is not None:
            self.vad.reset()


__all__ = ["InputAudio", "pcm_ms", "pcm_to_float"]
