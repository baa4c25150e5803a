"""Step 1: synthesise the speech corpus (train questions, stage-1 speech, held-out eval questions,
real noise) with the profile's TTS, in parallel worker processes, as resumable Parquet shards.

Resumability: the plan is deterministic, shard k always holds the same utterances, and each shard
is written with write-then-rename. A killed build leaves only complete shards; the rerun makes the
missing ones. An utterance the TTS cannot speak still gets a row (no audio, `error` set), so no id
is ever missing and the tokenize step counts it as skipped.
"""

from __future__ import annotations

import os
import time
import zlib
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ichigo.audio import wav_bytes, load_16k, AudioError
from ichigo.config import Profile
from ichigo.data.cards import write_dataset_card
from ichigo.data.corpus_plan import Utterance, fingerprint, plan_corpus
from ichigo.data.noise import make_noise
from ichigo import durable
from ichigo.data.records import write_json_atomic
from ichigo.errors import ConfigError, IchigoError

CORPUS_SCHEMA = pa.schema([
    ("id", pa.string()), ("split", pa.string()), ("kind", pa.string()), ("text", pa.string()),
    ("answer", pa.string()), ("voice", pa.string()), ("audio_wav", pa.binary()),
    ("seconds", pa.float32()), ("error", pa.string()),
])
DEFAULT_SHARD_UTTERANCES = 100


@dataclass
class CorpusManifest:
    out_dir: str
    fingerprint: str
    num_utterances: int
    num_shards: int
    counts: dict[str, int]  # "<split>/<kind>" -> rows
    audio_hours: float
    failed: dict[str, int] = field(default_factory=dict)  # reason -> rows without audio
    source_skipped: dict[str, int] = field(default_factory=dict)
    tts_backend: str = ""
    train_voices: list[str] = field(default_factory=list)
    heldout_voices: list[str] = field(default_factory=list)
    workers: int = 1
    build_seconds: float = 0.0
    resumed_shards: int = 0

    @classmethod
    def read(cls, out_dir: Path) -> "CorpusManifest":
        import json
        return cls(**json.loads((Path(out_dir) / "manifest.json").read_text()))


def shard_name(k: int) -> str:
    return f"part-{k:05d}.parquet"


# ---- worker side (runs in a separate process; keeps one TTS backend per process) ----
_TTS = None  # built lazily in each worker (fork: the parent never builds one, so no CUDA state is inherited)


def _tts(profile: Profile):
    global _TTS
    if _TTS is None:
        from ichigo.tts import make_tts
        _TTS = make_tts(profile.tts)
    return _TTS


def _render(utts: list[Utterance], profile: Profile) -> list[dict]:
    rows: dict[str, dict] = {}
    by_voice: dict[str, list[Utterance]] = {}
    for u in utts:
        if u.kind == "noise":
            _, kind, secs = u.voice.split(":")
            rng = np.random.default_rng(zlib.crc32(u.id.encode()) + profile.data.seed)
            rows[u.id] = {"wave": make_noise(kind, float(secs), rng), "error": ""}
        elif u.audio:
            try:
                rows[u.id] = {"wave": np.concatenate(load_16k(u.audio)), "error": ""}
            except AudioError as e:
                rows[u.id] = {"wave": None, "error": f"source_{e.reason}"}
        else:
            by_voice.setdefault(u.voice, []).append(u)
    for voice, group in by_voice.items():
        try:
            waves = _tts(profile).synthesize([u.text for u in group], voice)
            rows.update({u.id: {"wave": w, "error": ""} for u, w in zip(group, waves)})
        except IchigoError:  # one bad text or voice must not sink the others: retry one by one
            for u in group:
                try:
                    rows[u.id] = {"wave": _tts(profile).synthesize([u.text], voice)[0], "error": ""}
                except IchigoError as e:
                    rows[u.id] = {"wave": None, "error": f"tts_failed: {e}"[:300]}
    out = []
    for u in utts:
        w, err = rows[u.id]["wave"], rows[u.id]["error"]
        out.append({"id": u.id, "split": u.split, "kind": u.kind, "text": u.text, "answer": u.answer,
                    "voice": u.voice, "audio_wav": wav_bytes(w) if w is not None else b"",
                    "seconds": float(len(w) / 16000) if w is not None else 0.0, "error": err})
    return out


def build_shard(k: int, utts: list[Utterance], profile: Profile, out_dir: str) -> str:
    path = Path(out_dir) / shard_name(k)
    table = pa.Table.from_pylist(_render(utts, profile), schema=CORPUS_SCHEMA)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # unique: a stray worker may race us
    pq.write_table(table, tmp)
    durable.publish(tmp, path)
    return path.name


# ---- driver ----
def _shard_ok(path: Path, ids: list[str]) -> bool:
    try:
        return pq.read_table(path, columns=["id"]).column("id").to_pylist() == ids
    except Exception:  # unreadable (should not happen with atomic writes): rebuild it
        return False


def _summarise(out_dir: Path, n_shards: int) -> tuple[Counter, float, Counter]:
    counts, failed, secs = Counter(), Counter(), 0.0
    for k in range(n_shards):
        t = pq.read_table(out_dir / shard_name(k), columns=["split", "kind", "seconds", "error"])
        for split, kind, s, err in zip(*(t.column(c).to_pylist() for c in ("split", "kind", "seconds", "error"))):
            counts[f"{split}/{kind}"] += 1
            secs += s
            if err:
                failed[err.split(":")[0]] += 1
    return counts, secs, failed


def build_speech_corpus(profile: Profile, out_dir: str | Path, *, workers: int | None = None,
                        shard_utterances: int = DEFAULT_SHARD_UTTERANCES,
                        progress: bool = True) -> CorpusManifest:
    t0 = time.monotonic()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    source_rows = None
    if profile.data.source:
        from ichigo.data.sources import read_source
        source_rows = read_source(profile.data.source)
    plan, source_skipped = plan_corpus(profile, source_rows)
    fp = fingerprint(plan, {"tts": profile.tts.model_dump(), "shard": shard_utterances})
    plan_file = out_dir / "plan.fingerprint"
    if plan_file.exists() and plan_file.read_text().strip() != fp:
        raise ConfigError(f"{out_dir} holds a corpus built from a different profile/plan; "
                          "use a new output directory or delete this one")
    plan_file.write_text(fp + "\n")
    for stray in out_dir.glob("*.tmp"):
        stray.unlink(missing_ok=True)
    shards = [plan[i:i + shard_utterances] for i in range(0, len(plan), shard_utterances)]
    todo = [k for k, s in enumerate(shards)
            if not ((out_dir / shard_name(k)).is_file() and _shard_ok(out_dir / shard_name(k), [u.id for u in s]))]
    workers = max(1, workers or profile.tts.workers)
    bar = tqdm(total=len(plan), desc="speech corpus", unit="utt", disable=not progress)
    bar.update(sum(len(shards[k]) for k in range(len(shards)) if k not in set(todo)))
    if todo:
        if workers == 1:
            for k in todo:
                build_shard(k, shards[k], profile, str(out_dir))
                bar.update(len(shards[k]))
        else:
            with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=get_context("fork")) as ex:
                futs = {ex.submit(build_shard, k, shards[k], profile, str(out_dir)): k for k in todo}
                for f in as_completed(futs):
                    f.result()
                    bar.update(len(shards[futs[f]]))
    bar.close()
    counts, secs, failed = _summarise(out_dir, len(shards))
    manifest = CorpusManifest(
        out_dir=str(out_dir), fingerprint=fp, num_utterances=len(plan), num_shards=len(shards),
        counts=dict(sorted(counts.items())), audio_hours=round(secs / 3600, 4), failed=dict(failed),
        source_skipped=source_skipped, tts_backend=profile.tts.backend,
        train_voices=list(profile.tts.train_voices), heldout_voices=list(profile.tts.heldout_voices),
        workers=workers, build_seconds=round(time.monotonic() - t0, 2),
        resumed_shards=len(shards) - len(todo))
    write_json_atomic(out_dir / "manifest.json", asdict(manifest))
    write_dataset_card(out_dir, "Speech corpus", asdict(manifest),
                       "Synthetic speech for the Ichigo recipe: spoken questions (train voices), "
                       "stage-1 statements/questions, held-out-voice evaluation questions, and real "
                       "noise clips. 16 kHz mono WAV bytes per row.")
    return manifest
