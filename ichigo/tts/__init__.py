"""Text-to-speech backends behind one protocol: espeak-ng (embedded) and WhisperSpeech (cluster).

`make_tts(profile.tts)` picks the backend; heavy imports (torch, whisperspeech) happen only when
the WhisperSpeech backend is built.
"""

from __future__ import annotations

from ichigo.config import TTSConfig
from ichigo.tts.base import TTSBackend, VoiceSpec, check_texts
from ichigo.tts.espeak import EspeakTTS


def make_tts(config: TTSConfig, device: str | None = None) -> TTSBackend:
    if config.backend == "espeak":
        return EspeakTTS(speed=config.speeds[0] if config.speeds else 160,
                         pitch=config.pitches[0] if config.pitches else 50)
    if config.backend == "whisperspeech":
        from ichigo.tts.whisperspeech import WhisperSpeechTTS
        return WhisperSpeechTTS(config.model_cache, device=device, batch_size=config.batch_size)
    raise ValueError(f"unknown tts.backend {config.backend!r}")  # pydantic already forbids this


def __getattr__(name: str):
    if name == "WhisperSpeechTTS":
        from ichigo.tts.whisperspeech import WhisperSpeechTTS
        return WhisperSpeechTTS
    raise AttributeError(name)


__all__ = ["TTSBackend", "VoiceSpec", "EspeakTTS", "WhisperSpeechTTS", "make_tts", "check_texts"]
