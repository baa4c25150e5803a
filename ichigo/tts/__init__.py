"""Text-to-speech backends behind one protocol: espeak-ng and Piper (embedded), WhisperSpeech
(cluster).

`make_tts(profile.tts)` picks the backend; a pool that names both espeak and `piper:` voices gets
a `MixedTTS` that routes each voice to its synthesizer. Heavy imports (onnxruntime, torch,
whisperspeech) happen only when a backend that needs them is built.
"""

from __future__ import annotations

from ichigo.config import TTSConfig
from ichigo.tts.base import TransientTTSError, TTSBackend, VoiceSpec, check_texts
from ichigo.tts.espeak import EspeakTTS
from ichigo.tts.mixed import MixedTTS


def _profile_voices(config: TTSConfig) -> list[VoiceSpec]:
    return [VoiceSpec.parse(v) for v in [*config.train_voices, *config.heldout_voices]]


def make_tts(config: TTSConfig, device: str | None = None) -> TTSBackend:
    if config.backend == "whisperspeech":
        from ichigo.tts.whisperspeech import WhisperSpeechTTS
        return WhisperSpeechTTS(config.model_cache, device=device, batch_size=config.batch_size)
    espeak = lambda: EspeakTTS(speed=config.speeds[0] if config.speeds else 160,  # noqa: E731
                               pitch=config.pitches[0] if config.pitches else 50)
    piper = {v.name for v in _profile_voices(config) if v.engine == "piper"}
    if piper:  # fail at start, naming the package, not at the first Piper utterance
        from ichigo.tts.piper import voice_files
        for name in sorted(piper):
            voice_files(name)
    if config.backend == "piper":
        return MixedTTS({}, piper_only=True)
    if config.backend == "espeak":
        return MixedTTS({"espeak": espeak()}) if piper else espeak()
    raise ValueError(f"unknown tts.backend {config.backend!r}")  # pydantic already forbids this


_PROCESS_TTS: dict = {}


def process_tts(config: TTSConfig) -> TTSBackend:
    """One backend per process and config, for worker pools. Never reused across a fork: an
    onnxruntime session (Piper) or CUDA state a forked child inherits from its parent does not
    work there (Piper clips went missing when a parent had spoken before forking its workers)."""
    import os

    key = (os.getpid(), config.model_dump_json())
    if key not in _PROCESS_TTS:
        _PROCESS_TTS.clear()  # a parent's entries are unusable in this process
        _PROCESS_TTS[key] = make_tts(config)
    return _PROCESS_TTS[key]


def __getattr__(name: str):
    if name == "WhisperSpeechTTS":
        from ichigo.tts.whisperspeech import WhisperSpeechTTS
        return WhisperSpeechTTS
    if name == "PiperTTS":
        from ichigo.tts.piper import PiperTTS
        return PiperTTS
    raise AttributeError(name)


__all__ = ["TTSBackend", "VoiceSpec", "EspeakTTS", "PiperTTS", "MixedTTS", "WhisperSpeechTTS",
           "TransientTTSError", "make_tts", "check_texts"]
