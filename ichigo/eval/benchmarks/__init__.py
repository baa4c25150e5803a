"""Benchmarks declared in `eval.benchmarks`, loaded from their published layouts.

One module per kind: `mmlu` (CSV / HF parquet), `mc` (GPQA-shaped), `exact` (GSM8K-shaped),
`speech_qa` (AudioBench-style), `asr_test` (any `ichigo.data.sources` ASR layout). `load_benchmark`
resolves the URI (local, s3://, builtin:// for a set shipped with the package, or world:// for
the embedded fact bank) and fails on load, naming the file, row and field, when the data is not
what the kind needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ichigo.config.sections import BenchmarkSpec
from ichigo.eval.benchmarks.files import resolve


@dataclass
class LoadedBenchmark:
    spec: BenchmarkSpec
    data: Any  # MCSet (mmlu, mc), list[ExactItem], list[SpeechQAItem], list[ASRItem]
    root: Path

    @property
    def n(self) -> int:
        return len(self.data.items) if hasattr(self.data, "items") else len(self.data)

    def questions(self) -> list[tuple[str, str]]:
        """(item id, question text) of every item with one, for the held-out check (an ASR
        test set's transcripts are not questions; speaker overlap is the voices check's job)."""
        d = self.data
        if self.spec.kind == "asr_test":
            return []
        items = d.items if hasattr(d, "items") else d
        return [(it.id, getattr(it, "text", "") or it.question) for it in items]


def load_benchmark(spec: BenchmarkSpec, cache_dir: str | Path, eval_dir: str | Path | None = None,
                   seed: int = 0) -> LoadedBenchmark:
    root = resolve(spec, Path(cache_dir), None if eval_dir is None else Path(eval_dir))
    if spec.kind == "mmlu":
        from ichigo.eval.benchmarks.mmlu import load_mmlu
        data = load_mmlu(spec, root)
    elif spec.kind == "mc":
        from ichigo.eval.benchmarks.mc import load_mc
        data = load_mc(spec, root, seed)
    elif spec.kind == "exact":
        from ichigo.eval.benchmarks.exact import load_exact
        data = load_exact(spec, root)
    elif spec.kind == "speech_qa":
        from ichigo.eval.benchmarks.speech_qa import load_speech_qa
        data = load_speech_qa(spec, root)
    else:
        from ichigo.eval.benchmarks.asr_test import load_asr_test
        data = load_asr_test(spec, root)
    return LoadedBenchmark(spec, data, root)


__all__ = ["LoadedBenchmark", "load_benchmark"]
