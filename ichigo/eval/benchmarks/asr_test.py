"""ASR test sets in any layout `ichigo.data.sources` reads (LibriSpeech, MLS, Common Voice,
parquet): one reader per layout lives there, not here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ichigo.config.sections import BenchmarkSpec
from ichigo.errors import InputError
from ichigo.eval.benchmarks.files import non_empty


@dataclass(frozen=True)
class ASRItem:
    id: str
    audio: bytes
    text: str


def load_asr_test(spec: BenchmarkSpec, root: Path) -> list[ASRItem]:
    from ichigo.data.sources import SourceSpec, iter_source  # the data package's readers

    src = SourceSpec(name=spec.name, kind="asr", format=spec.format, uri=str(root), split=spec.split,
                     language=spec.options.get("language", "en"), limit=spec.limit)
    items = []
    for row in iter_source(src):
        if not (row.text or "").strip():
            raise InputError(f"benchmark {spec.name!r}: utterance {row.id} in {root} has an empty "
                             "transcript (WER needs words)")
        items.append(ASRItem(str(row.id), row.audio, row.text))
    return non_empty(items, spec, str(root))
