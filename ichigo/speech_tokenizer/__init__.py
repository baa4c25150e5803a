"""Speech tokenizers: 16 kHz audio -> 25 codes/s in 0..511 (pad 512).

`CodebookTokenizer` (k-means over log-mel, fit locally), and behind the `whisper_vq` backend
`WhisperKMeansTokenizer` (k-means over the installed Whisper's encoder states, fit locally) or
`WhisperVQTokenizer` (whisperspeech's RQBottleneckTransformer checkpoint). All batch, chunk long
audio, save and load.
"""

from __future__ import annotations

from pathlib import Path

from ichigo.config import SpeechTokenizerConfig
from ichigo.speech_tokenizer.base import SpeechTokenizer, num_tokens
from ichigo.speech_tokenizer.codebook import CodebookTokenizer, fit_codebook


def load_speech_tokenizer(config: SpeechTokenizerConfig, checkpoint: str | Path,
                          device: str = "cpu") -> SpeechTokenizer:
    """The backend named by `config`, from a local path or (whisper_vq) an s3:// URI."""
    from ichigo.speech_tokenizer import codebook, whisper_kmeans
    from ichigo.speech_tokenizer.base import saved_format

    local = checkpoint
    if (config.backend == "codebook" or config.quantizer == "kmeans") and "://" in str(checkpoint):
        from ichigo.storage import fetch
        local = fetch(str(checkpoint))
    # an npz tokenizer says what it is, so a package loads whatever the profile's backend says
    fmt = saved_format(local) if Path(local).is_file() else None
    if fmt == codebook.FORMAT or (fmt is None and config.backend == "codebook"):
        return CodebookTokenizer.load(local)
    if fmt == whisper_kmeans.FORMAT or config.quantizer == "kmeans":
        return whisper_kmeans.WhisperKMeansTokenizer.load(local, batch_size=config.batch_size, device=device)
    from ichigo.speech_tokenizer.whisper_vq import WhisperVQTokenizer
    return WhisperVQTokenizer.load(checkpoint, batch_size=config.batch_size,
                                   max_chunk_seconds=config.max_chunk_seconds, device=device)


def __getattr__(name: str):
    if name in ("WhisperVQTokenizer", "build_random_whisper_vq"):
        from ichigo.speech_tokenizer import whisper_vq
        return getattr(whisper_vq, name)
    if name in ("WhisperKMeansTokenizer", "fit_whisper_kmeans"):
        from ichigo.speech_tokenizer import whisper_kmeans
        return getattr(whisper_kmeans, name)
    if name == "WhisperASR":
        from ichigo.speech_tokenizer.whisper_asr import WhisperASR
        return WhisperASR
    raise AttributeError(name)


__all__ = ["SpeechTokenizer", "CodebookTokenizer", "WhisperVQTokenizer", "WhisperKMeansTokenizer",
           "WhisperASR", "fit_codebook", "fit_whisper_kmeans", "load_speech_tokenizer", "num_tokens",
           "build_random_whisper_vq"]
