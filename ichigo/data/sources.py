"""External data sources: local or s3:// Parquet, JSONL, or HF-datasets (`save_to_disk`) files.

Rows are either (text, answer) pairs, spoken by the TTS, or (audio, text) pairs used as real
speech. Column names are matched loosely because public datasets name them differently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ichigo.storage import fetch
from ichigo.errors import InputError

TEXT_COLUMNS = ("text", "question", "prompt", "instruction", "transcript", "transcription", "sentence")
ANSWER_COLUMNS = ("answer", "response", "output", "completion")
AUDIO_COLUMNS = ("audio", "audio_wav", "wav")


@dataclass(frozen=True)
class SourceRow:
    text: str
    answer: str | None = None
    audio: bytes | None = None  # encoded audio (any format ichigo.audio.read_audio decodes)


def _pick(rec: dict, names: tuple[str, ...]):
    for n in names:
        if rec.get(n) not in (None, ""):
            return rec[n]
    return None


def _audio_bytes(value, base: Path) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, dict):  # HF Audio feature: {"bytes": ..., "path": ...}
        if value.get("bytes"):
            return bytes(value["bytes"])
        value = value.get("path")
    if isinstance(value, str) and value:
        p = Path(value) if Path(value).is_absolute() else base / value
        if p.is_file():
            return p.read_bytes()
        raise InputError(f"audio file {value} referenced by the source does not exist")
    return None


def _records(path: Path) -> list[dict]:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    if path.suffix in (".jsonl", ".json"):
        out = []
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise InputError(f"{path}:{n} is not valid JSON ({e.msg})") from None
        return out
    if path.suffix == ".arrow":  # HF datasets save_to_disk shards (Arrow IPC stream)
        with pa.memory_map(str(path)) as src:
            try:
                return pa.ipc.open_stream(src).read_all().to_pylist()
            except pa.ArrowInvalid:
                return pa.ipc.open_file(src).read_all().to_pylist()
    return []


def read_source(uri: str) -> list[SourceRow]:
    """Every usable row of a file or directory (all supported files inside, sorted)."""
    path = fetch(uri)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    files = [f for f in files if f.suffix in (".parquet", ".jsonl", ".json", ".arrow")
             and f.name not in ("dataset_info.json", "state.json", "manifest.json")]
    if not files:
        raise InputError(f"no Parquet/JSONL/Arrow files at {uri}")
    rows: list[SourceRow] = []
    for f in files:
        for rec in _records(f):
            text = _pick(rec, TEXT_COLUMNS)
            answer = _pick(rec, ANSWER_COLUMNS)
            audio = _audio_bytes(_pick(rec, AUDIO_COLUMNS), f.parent)
            rows.append(SourceRow(str(text or ""), None if answer is None else str(answer), audio))
    if not rows:
        raise InputError(f"{uri} holds no rows")
    return rows
