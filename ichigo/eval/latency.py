"""First-token latency as the paper measured it, and peak memory.

One run = decode the WAV, resample to 16 kHz, speech-tokenize, build the chat prompt, prefill,
and produce the first generated token (`stream_generate`, stopped after one token). Utterances
are 1-5 s long; a few warm-up runs come first (allocator, kernels, caches), then the runs are
timed with `perf_counter` (after a CUDA synchronize on GPU).
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from tqdm import tqdm

from ichigo.audio import read_audio, to_16k
from ichigo.chat_template import tokenize_chat
from ichigo.errors import InputError
from ichigo.frontends import as_front_end
from ichigo.model.generate import stream_generate

MIN_SECONDS, MAX_SECONDS = 1.0, 5.0


@dataclass
class LatencyResult:
    p50_ms: float
    p95_ms: float
    mean_ms: float
    n: int
    samples_ms: list[float] = field(default_factory=list)


def wav_seconds(wav: bytes) -> float:
    import io

    import soundfile as sf
    info = sf.info(io.BytesIO(wav))
    return info.frames / float(info.samplerate)


def pick_utterances(wavs: Sequence[bytes], lo: float = MIN_SECONDS, hi: float = MAX_SECONDS) -> list[bytes]:
    picked = []
    for w in wavs:
        try:
            if w and lo <= wav_seconds(w) <= hi:
                picked.append(w)
        except RuntimeError:  # not a WAV soundfile can read: not a latency sample
            continue
    if not picked:
        raise InputError(f"no eval utterance is {lo:g}-{hi:g} s long (of {len(wavs)}): the eval set's "
                         "audio_wav column must hold 16 kHz WAVs of spoken questions")
    return picked


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def first_token_ms(lm, front_end, wav: bytes) -> float:
    """`front_end`: a speech tokenizer (early fusion), an ASR (cascade) or a `SpeechFrontEnd`."""
    front_end = as_front_end(front_end)
    device = next(lm.model.parameters()).device
    _sync(device)
    t0 = time.perf_counter()
    wave, sr = read_audio(wav)
    turn = front_end.user_turns([to_16k(wave, sr)])[0]
    ids = tokenize_chat([turn], lm.tokenizer, add_generation_prompt=True).ids
    gen = stream_generate(lm.model, ids, 1, lm.tokenizer.stop_ids)
    next(gen)
    _sync(device)
    elapsed = (time.perf_counter() - t0) * 1000.0
    gen.close()  # releases the KV cache (outside the timed region)
    return elapsed


def first_token_latency(lm, front_end, wavs: Sequence[bytes], runs: int = 10,
                        warmup: int = 2) -> LatencyResult:
    utts = pick_utterances(wavs)
    for i in range(warmup):
        first_token_ms(lm, front_end, utts[i % len(utts)])
    samples = [first_token_ms(lm, front_end, utts[i % len(utts)])
               for i in tqdm(range(runs), desc="first-token latency", unit="run", mininterval=1)]
    arr = np.asarray(samples)
    return LatencyResult(float(np.percentile(arr, 50)), float(np.percentile(arr, 95)),
                         float(arr.mean()), len(samples), [round(s, 3) for s in samples])


def peak_memory_mb(device: torch.device | str = "cpu") -> float:
    """CUDA: max allocated by torch. CPU: the process's RSS high-water mark (Linux reports KiB)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
