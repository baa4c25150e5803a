"""Speech tokenizers: 16 kHz audio -> 25 codes/s in 0..511 (pad 512).

`CodebookTokenizer` (embedded, k-means over log-mel, fit locally) and `WhisperVQTokenizer`
(cluster, whisperspeech's RQBottleneckTransformer). Both batch, chunk long audio, save and load.
"""

from __future__ import annotations

from pathlib import Path

from ichigo.config import SpeechTokenizerConfig
from ichigo.speech_tokenizer.base import SpeechTokenizer, num_tokens
from ichigo.speech_tokenizer.codebook import CodebookTokenizer, fit_codebook


def load_speech_tokenizer(config: SpeechTokenizerConfig, checkpoint: str | Path,
                          device: str = "cpu") -> SpeechTokenizer:
    """The backend named by `config`, from a local path or (whisper_vq) an s3:// URI."""
    if config.backend == "codebook":
        return CodebookTokenizer.load(checkpoint)
    from ichigo.speech_tokenizer.whisper_vq import WhisperVQTokenizer
    return WhisperVQTokenizer.load(checkpoint, batch_size=config.batch_size,
                                   max_chunk_seconds=config.max_chunk_seconds, device=device)


def __getattr__(name: str):
    if name in ("WhisperVQTokenizer", "build_random_whisper_vq"):
        from ichigo.speech_tokenizer import whisper_vq
        return getattr(whisper_vq, name)
    raise AttributeError(name)


__all__ = ["SpeechTokenizer", "CodebookTokenizer", "WhisperVQTokenizer", "fit_codebook",
           "load_speech_tokenizer", "num_tokens", "build_random_whisper_vq"]
