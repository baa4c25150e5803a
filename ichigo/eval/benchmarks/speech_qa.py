"""AudioBench-style spoken QA sets: each row is an audio clip (bytes, a path relative to the file,
or HF's audio struct {bytes, path}) or a `text` to synthesize with the profile's held-out voices,
an optional text `instruction`/`context` asked about the audio (OpenHermes-Audio, ALPACA-Audio),
and a reference `answer`. Formats jsonl and parquet. An optional `codes` column holds sound
codes already made by this profile's speech tokenizer (the embedded eval set's): used as-is."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from ichigo.config.sections import BenchmarkSpec
from ichigo.errors import InputError
from ichigo.eval.benchmarks.files import data_files, field as get, non_empty, read_rows

SUFFIX = {"jsonl": (".jsonl",), "parquet": (".parquet",)}
AUDIO_FIELDS = ("audio", "audio_wav", "context_audio")
TEXT_FIELDS = ("text", "question", "speech_text")  # what is (to be) spoken
INSTRUCTION_FIELDS = ("instruction", "context", "prompt")  # a text turn asked about the audio
REFERENCE_FIELDS = ("answer", "reference", "response", "output")


@dataclass(frozen=True)
class SpeechQAItem:
    id: str
    reference: str
    audio: bytes | None = None  # encoded audio, any format ichigo.audio decodes
    text: str = ""  # what is spoken (synthesized when there is no audio)
    instruction: str = ""  # a text instruction sent with the audio, if any
    codes: tuple[int, ...] | None = None  # precomputed sound codes, if the set has them

    @property
    def question(self) -> str:
        """What the judge is told the user asked."""
        return " ".join(x for x in (self.text, self.instruction) if x) or "(spoken question)"


def _audio_bytes(raw, path: Path, where: str) -> bytes:
    if isinstance(raw, dict):  # HF datasets' Audio feature: {"bytes": ..., "path": ...}
        raw = raw.get("bytes") or raw.get("path")
    if isinstance(raw, (bytes, bytearray)):
        if not raw:
            raise InputError(f"{where}: field 'audio' is empty")
        return bytes(raw)
    if isinstance(raw, str):
        if raw.startswith("base64:"):
            return base64.b64decode(raw[7:])
        p = Path(raw) if Path(raw).is_absolute() else path.parent / raw
        if not p.is_file():
            raise InputError(f"{where}: field 'audio' names {p}, which does not exist")
        return p.read_bytes()
    raise InputError(f"{where}: field 'audio' must be bytes, a path or {{bytes, path}}, not "
                     f"{type(raw).__name__}")


def _codes(raw, where: str) -> tuple[int, ...] | None:
    if raw is None:
        return None
    if not isinstance(raw, (list, tuple)) or not raw or not all(isinstance(c, int) and 0 <= c < 1024 for c in raw):
        raise InputError(f"{where}: field 'codes' must be a non-empty list of sound codes")
    return tuple(raw)


def load_speech_qa(spec: BenchmarkSpec, root: Path) -> list[SpeechQAItem]:
    items = []
    for path in data_files(root, SUFFIX[spec.format], spec.split if root.is_dir() else None):
        for n, row in enumerate(read_rows(path), 1):
            where = f"{path} row {n}"
            raw = get(row, AUDIO_FIELDS, where, required=False)
            text = str(get(row, TEXT_FIELDS, where, required=False) or "").strip()
            if raw is None and not text:
                raise InputError(f"{where}: missing field 'audio' (or 'text' to synthesize)")
            items.append(SpeechQAItem(
                id=str(row.get("id") or f"{path.stem}-{n}"),
                reference=str(get(row, REFERENCE_FIELDS, where)).strip(),
                audio=None if raw is None else _audio_bytes(raw, path, where), text=text,
                instruction=str(get(row, INSTRUCTION_FIELDS, where, required=False) or "").strip(),
                codes=_codes(row.get("codes"), where)))
    return non_empty(items, spec, str(root))
