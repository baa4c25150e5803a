"""Readers for speech + transcript datasets. Each yields `RawAsr` candidates in a stable order,
before any audio is read, so sharding and resuming skip rows without touching their audio.

Layouts:
- mls: `<split>/transcripts.txt` lines `<spk>_<book>_<utt>\\t<text>`, audio at
  `<split>/audio/<spk>/<book>/<id>.flac` (or `.opus`, as in the Opus release);
- librispeech: `<spk>/<chapter>/<spk>-<chapter>.trans.txt` lines `<id> <TEXT>`, `<id>.flac` beside;
- commonvoice: `<split>.tsv` (tab-separated, unquoted) with `path`/`sentence`, audio in `clips/`;
- parquet (Hugging Face datasets): an audio column holding {bytes, path}, bytes, or a path, and a
  text column.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

from ichigo.config.sections import SourceSpec
from ichigo.data.sources.files import data_files, missing_column, parquet_records, source_root
from ichigo.errors import InputError
from ichigo.storage import fetch, is_s3


@dataclass
class RawAsr:
    raw_id: str
    text: object  # validated later (may be a wrong type in a parquet file)
    speaker: str
    load: Callable[[], bytes] | None  # None: the row is already known bad (see `reason`)
    reason: str = ""


def _file_loader(path: Path) -> Callable[[], bytes]:
    def load() -> bytes:
        if not path.is_file():
            raise FileNotFoundError(str(path))
        return path.read_bytes()
    return load


def _required_file(spec: SourceSpec, path: Path, what: str) -> Path:
    if not path.is_file():
        raise InputError(f"source {spec.name!r}: {path} does not exist; a {spec.format} source needs "
                         f"{what} (uri {spec.uri}, split {spec.split or 'train'!r})")
    return path


def _s3_loader(base: str, stem: str, exts: tuple[str, ...]) -> Callable[[], bytes]:
    """Download one audio object when its row is read: a shard never fetches other shards' audio."""
    def load() -> bytes:
        for ext in exts:
            try:
                return fetch(f"{base}/{stem}{ext}").read_bytes()
            except InputError:
                continue
        raise FileNotFoundError(f"{base}/{stem}{'|'.join(exts)}")
    return load


def _mls_rows(fh, audio_for) -> Iterator[RawAsr]:
    """Rows of an MLS `transcripts.txt` (`<spk>_<book>_<utt>\t<text>`); `audio_for(utt, spk,
    book)` gives the row's audio loader."""
    for n, line in enumerate(fh, 1):
        if not line.strip():
            continue
        utt, tab, text = line.rstrip("\n").partition("\t")
        parts = utt.split("_")
        if not tab or len(parts) != 3:
            yield RawAsr(f"line{n}", "", "", None, "malformed_line")
            continue
        yield RawAsr(utt, text, parts[0], audio_for(utt, parts[0], parts[1]))


def read_mls(spec: SourceSpec) -> Iterator[RawAsr]:
    split = spec.split or "train"
    if is_s3(spec.uri):  # MLS is terabytes: only the transcripts are fetched up front
        base = f"{spec.uri.rstrip('/')}/{split}"
        try:
            transcripts = fetch(f"{base}/transcripts.txt")
        except InputError:
            raise InputError(f"source {spec.name!r}: {base}/transcripts.txt does not exist; a mls source "
                             "needs <split>/transcripts.txt") from None
        with transcripts.open(encoding="utf-8", errors="replace") as fh:
            yield from _mls_rows(fh, lambda utt, spk, book: _s3_loader(f"{base}/audio/{spk}/{book}", utt,
                                                                      (".flac", ".opus")))
        return
    split_dir = source_root(spec) / split
    transcripts = _required_file(spec, split_dir / "transcripts.txt", "<split>/transcripts.txt")

    def local_audio(utt: str, spk: str, book: str):
        folder = split_dir / "audio" / spk / book
        audio = next((folder / f"{utt}{ext}" for ext in (".flac", ".opus")
                      if (folder / f"{utt}{ext}").is_file()), folder / f"{utt}.flac")
        return _file_loader(audio)

    with transcripts.open(encoding="utf-8", errors="replace") as fh:
        yield from _mls_rows(fh, local_audio)


def read_librispeech(spec: SourceSpec) -> Iterator[RawAsr]:
    for trans in data_files(spec, (".trans.txt",)):
        with trans.open(encoding="utf-8", errors="replace") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                utt, _, text = line.strip().partition(" ")
                if utt.count("-") != 2:
                    yield RawAsr(f"{trans.name}:{n}", "", "", None, "malformed_line")
                    continue
                yield RawAsr(utt, text, utt.split("-")[0], _file_loader(trans.parent / f"{utt}.flac"))


def read_commonvoice(spec: SourceSpec) -> Iterator[RawAsr]:
    root = source_root(spec)
    tsv = _required_file(spec, root / f"{spec.split or 'train'}.tsv", "<split>.tsv beside clips/")
    path_col, text_col, spk_col = (spec.column(k) for k in ("path", "sentence", "speaker"))
    csv.field_size_limit(min(sys.maxsize, 2 ** 31 - 1))
    with tsv.open(encoding="utf-8", errors="replace", newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        have = set(reader.fieldnames or [])
        for c in (path_col, text_col):
            if c not in have:
                raise missing_column(spec, tsv, c, have)
        for n, rec in enumerate(reader, 2):
            clip = rec.get(path_col) or ""
            if not clip:
                yield RawAsr(f"line{n}", "", "", None, "missing_field")
                continue
            yield RawAsr(Path(clip).stem, rec.get(text_col) or "", rec.get(spk_col) or "",
                         _file_loader(root / "clips" / clip))


def _parquet_audio(value, base: Path) -> Callable[[], bytes] | str:
    """A loader for the audio cell, or a skip reason."""
    if isinstance(value, dict):  # HF Audio feature: {"bytes": ..., "path": ...}
        if value.get("bytes"):
            data = bytes(value["bytes"])
            return lambda: data
        value = value.get("path")
    if isinstance(value, (bytes, bytearray)):
        data = bytes(value)
        return (lambda: data) if data else "empty_audio"
    if isinstance(value, str) and value:
        p = Path(value)
        return _file_loader(p if p.is_absolute() else base / p)
    return "missing_audio" if value is None else "wrong_type"


def read_parquet_asr(spec: SourceSpec) -> Iterator[RawAsr]:
    audio_col, text_col, spk_col, id_col = (spec.column(k) for k in ("audio", "text", "speaker", "id"))
    for f in data_files(spec, (".parquet",)):
        for n, rec in enumerate(parquet_records(spec, f, [audio_col, text_col], [spk_col, id_col])):
            raw_id = str(rec.get(id_col) or f"{f.stem}-{n}")
            load = _parquet_audio(rec[audio_col], f.parent)
            if isinstance(load, str):
                yield RawAsr(raw_id, "", "", None, load)
            else:
                yield RawAsr(raw_id, rec[text_col], str(rec.get(spk_col) or ""), load)


READERS = {"mls": read_mls, "librispeech": read_librispeech, "commonvoice": read_commonvoice,
           "parquet": read_parquet_asr}
