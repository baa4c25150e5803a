"""The embedded world's fact bank written as benchmark files, so the embedded profile is scored
by the same loaders as a real benchmark (one code path for both profiles).

- `world://mmlu`: MMLU's CSV layout, one subject per fact kind (color, capital, opposite,
  animal, sum); one fact per subject goes to `dev/` (the shot pool), the rest to `test/`.
  Questions use the world's held-out evaluation phrasing (`Fact.eval_question`), which no
  training row uses, so the held-out check holds; options are the right answer plus three
  answers of the same kind (`world.answer_choices`).
- `world://speech_qa`: the held-out eval set's spoken questions (held-out voices, from the data
  step's `eval/qa.parquet`) as a speech_qa parquet set: audio bytes, text, reference answer and
  the sound codes the data step made (so the eval does not re-encode them).
Files are written once (atomically) and reused.
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
from pathlib import Path

from ichigo import world
from ichigo.errors import InputError
from ichigo.files import write_atomic_bytes
from ichigo.records import read_eval_items

SEED = 0  # fixed: the files are the benchmark, they must not change between runs


def _csv_bytes(rows: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue().encode()


def write_world_mmlu(root: Path) -> Path:
    done = root / ".complete"  # written last: a killed writer leaves no half set behind
    if done.is_file():
        return root
    facts = world.all_facts()
    rng = random.Random(SEED)
    by_kind: dict[str, list[world.Fact]] = {}
    for f in facts:
        by_kind.setdefault(f.kind, []).append(f)
    for kind, kind_facts in by_kind.items():
        rows = []
        for f in kind_facts:
            options, idx = world.answer_choices(f, facts, rng)
            rows.append([f.eval_question(), *options, world.LETTERS[idx]])
        rng.shuffle(rows)
        for split, part in (("dev", rows[:1]), ("test", rows[1:])):
            (root / split).mkdir(parents=True, exist_ok=True)
            write_atomic_bytes(root / split / f"{kind}_{split}.csv", _csv_bytes(part))
    done.write_text("ok\n")
    return root


def write_world_speech_qa(root: Path, eval_dir: Path | None) -> Path:
    if eval_dir is None:
        raise InputError("world://speech_qa is the held-out eval set: evaluate with the data step's eval dir")
    src = Path(eval_dir) / "qa.parquet"
    if not src.is_file():
        raise InputError(f"world://speech_qa needs {src}: run the data step that writes the eval set")
    digest = hashlib.sha256(src.read_bytes()).hexdigest()[:16]
    out = root / digest / "test.parquet"
    if out.is_file():
        return out.parent
    import pyarrow as pa
    import pyarrow.parquet as pq
    items = [it for it in read_eval_items(src) if it.kind == "qa"]
    table = pa.Table.from_pylist([{"id": it.id, "audio": {"bytes": it.audio_wav, "path": f"{it.id}.wav"},
                                   "text": it.text, "answer": it.answer, "voice": it.voice, "codes": list(it.codes)}
                                  for it in items])
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name("test.parquet.tmp")
    pq.write_table(table, tmp)
    tmp.replace(out)
    return out.parent


def write_world_benchmark(what: str, root: Path, eval_dir: Path | None = None) -> Path:
    if what == "mmlu":
        return write_world_mmlu(root / "mmlu")
    if what == "speech_qa":
        return write_world_speech_qa(root / "speech_qa", eval_dir)
    raise InputError(f"unknown embedded benchmark world://{what}; use world://mmlu or world://speech_qa")
