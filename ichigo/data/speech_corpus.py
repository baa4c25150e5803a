"""Step 1: synthesise the speech corpus (train questions, stage-1 speech, held-out eval questions,
real noise) with the profile's TTS, in parallel worker processes, as resumable Parquet shards.

Resumability: the plan is deterministic, shard k always holds the same utterances, and each shard
is written with write-then-rename. A killed build leaves only complete shards; the rerun makes the
missing ones. An utterance the TTS cannot speak still gets a row (no audio, `error` set), so no id
is ever missing and the tokenize step counts it as skipped.

Per synthesized clip, in this order: TTS (transient errors retried with backoff) -> the ASR
round-trip gate on the clean render (`ichigo.data.asr_gate`; a failing clip keeps its row with
`error` set) -> augmentation of train-split speech (`ichigo.data.augment`). Every row carries
its voice `family` (`ichigo.tts.families`); the manifest counts rows, drops and augmentations.
"""

from __future__ import annotations

import json
import os
import shutil
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
from ichigo.data.augment import augment
from ichigo.data.cards import write_dataset_card
from ichigo.data.corpus_plan import AsrJob, Utterance, fingerprint, plan_corpus
from ichigo.data.noise import make_noise
from ichigo import durable
from ichigo.data.sources import SourceStats, iter_source, require_rows
from ichigo.data.world_datasets import write_world_datasets
from ichigo.errors import ConfigError, IchigoError
from ichigo.files import write_json_atomic
from ichigo.tts.base import TransientTTSError, VoiceSpec
from ichigo.tts.mixed import reseed_for
from ichigo.tts.families import family_of

CORPUS_SCHEMA = pa.schema([
    ("id", pa.string()), ("split", pa.string()), ("kind", pa.string()), ("text", pa.string()),
    ("answer", pa.string()), ("voice", pa.string()), ("audio_wav", pa.binary()),
    ("seconds", pa.float32()), ("error", pa.string()),
    ("family", pa.string()),  # voice family (held-out family name, accent, or piper-<voice>)
    ("augment", pa.string()),  # effects applied ("" = clean), see ichigo.data.augment
    ("gated", pa.bool_()),  # the ASR gate transcribed this clip (a failure sets error "asr_gate: ...")
])
TTS_RETRIES = 3  # transient failures (timeouts, resource errors) before the shard gives up
TTS_BACKOFF_SECONDS = 0.5
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
    sources: list[dict] = field(default_factory=list)  # per source: name, kind, used, skipped by reason
    tts_backend: str = ""
    train_voices: list[str] = field(default_factory=list)
    heldout_voices: list[str] = field(default_factory=list)
    workers: int = 1
    build_seconds: float = 0.0
    resumed_shards: int = 0
    families: dict[str, int] = field(default_factory=dict)  # "<split>/<family>" -> speech rows
    heldout_families: dict[str, list[str]] = field(default_factory=dict)
    augmented: dict[str, int] = field(default_factory=dict)  # effect -> train clips
    # checked/dropped/max_wer/model, dropped_by_voice, dropped_by_family
    asr_gate: dict = field(default_factory=dict)

    @classmethod
    def read(cls, out_dir: Path) -> "CorpusManifest":
        import json
        return cls(**json.loads((Path(out_dir) / "manifest.json").read_text()))


def shard_name(k: int) -> str:
    return f"part-{k:05d}.parquet"


# ---- worker side (runs in a separate process; keeps one TTS backend and one ASR model per process) ----
_GATE = None  # the ASR gate: Whisper loads once per worker process, not per shard
_MAIN_PID = os.getpid()


def _tts(profile: Profile):
    from ichigo.tts import process_tts

    return process_tts(profile.tts)


def _gate(profile: Profile):
    global _GATE
    if _GATE is None:
        if os.getpid() != _MAIN_PID:  # a pool worker: one torch thread, the pool fills the cores
            import torch
            torch.set_num_threads(1)
        from ichigo.data.asr_gate import AsrGate, load_transcriber
        d = profile.data
        _GATE = AsrGate(load_transcriber(d.asr_gate_model, d.asr_gate_window_seconds), d.asr_gate_max_wer)
    return _GATE


def _synthesize(profile: Profile, texts: list[str], voice: str) -> list[np.ndarray]:
    """TTS with retries for transient failures; one that outlasts the retries fails the shard
    (nothing is written, so a rerun tries again) instead of being stored as a permanent error."""
    for attempt in range(TTS_RETRIES + 1):
        try:
            return _tts(profile).synthesize(texts, voice)
        except TransientTTSError as e:
            if attempt == TTS_RETRIES:
                raise RuntimeError(f"TTS kept failing transiently for voice {voice!r} after "
                                   f"{TTS_RETRIES} retries: {e}; rerun the step to resume") from e
            time.sleep(TTS_BACKOFF_SECONDS * 2 ** attempt)
    raise AssertionError("unreachable")


def _render(utts: list[Utterance], profile: Profile, gate_sources: bool = False) -> list[dict]:
    """Audio per utterance: noise made, source audio decoded, the rest spoken by the TTS. The ASR
    gate checks the TTS renders, and the decoded source clips too when `gate_sources` (a source
    whose audio a TTS rendered)."""
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
    to_gate: list[Utterance] = []  # rendered by a TTS: here, or by a source's (gate_sources)
    if by_voice:
        reseed_for(_tts(profile), utts[0].id, profile.data.seed)
    for voice, group in by_voice.items():
        try:
            waves = _synthesize(profile, [u.text for u in group], voice)
            rows.update({u.id: {"wave": w, "error": ""} for u, w in zip(group, waves)})
        except ConfigError:  # a missing/corrupt voice package is the setup's fault, not the row's
            raise
        except IchigoError:  # one bad text or voice must not sink the others: retry one by one
            for u in group:
                try:
                    rows[u.id] = {"wave": _synthesize(profile, [u.text], voice)[0], "error": ""}
                except ConfigError:
                    raise
                except IchigoError as e:
                    rows[u.id] = {"wave": None, "error": f"tts_failed: {e}"[:300]}
        to_gate += [u for u in group if rows[u.id]["wave"] is not None]
    if gate_sources:
        to_gate += [u for u in utts if u.audio and rows[u.id]["wave"] is not None]
    gated = {u.id for u in to_gate} if profile.data.asr_gate else set()
    if gated:  # on the clean render: the gate judges the TTS
        verdicts = _gate(profile).check([u.text for u in to_gate], [rows[u.id]["wave"] for u in to_gate])
        for u, v in zip(to_gate, verdicts):
            if not v.passed:
                rows[u.id] = {"wave": None, "error": v.error[:300]}
    aug_cfg = profile.tts.augment
    out = []
    for u in utts:
        w, err, desc = rows[u.id]["wave"], rows[u.id]["error"], ""
        if (w is not None and aug_cfg.enabled and u.split == "train" and u.voice in by_voice):
            w, desc = augment(w, u.id, aug_cfg, profile.data.seed)
        out.append({"id": u.id, "split": u.split, "kind": u.kind, "text": u.text, "answer": u.answer,
                    "voice": u.voice, "audio_wav": wav_bytes(w) if w is not None else b"",
                    "seconds": float(len(w) / 16000) if w is not None else 0.0, "error": err,
                    "family": family_of(u.voice, profile.tts), "augment": desc, "gated": u.id in gated})
    return out


def build_shard(k: int, utts: list[Utterance], profile: Profile, out_dir: str) -> str:
    path = Path(out_dir) / shard_name(k)
    table = pa.Table.from_pylist(_render(utts, profile), schema=CORPUS_SCHEMA)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # unique: a stray worker may race us
    pq.write_table(table, tmp)
    durable.publish(tmp, path)
    return path.name


def build_asr_shard(job: AsrJob, profile: Profile, out_dir: str) -> str:
    """Shard k of n of an asr source: its rows streamed from the source, decoded to 16 kHz WAV."""
    stats = SourceStats(job.source.name, job.source.kind)
    utts = [Utterance(r.id, "train", "asr", r.text, "", f"source:{job.source.name}:{r.language}", r.audio)
            for r in iter_source(job.source, job.shard, job.num_shards, stats=stats)]
    table = pa.Table.from_pylist(_render(utts, profile, gate_sources=job.source.asr_gate), schema=CORPUS_SCHEMA)
    table = table.replace_schema_metadata({b"ichigo_source_stats": json.dumps(stats.as_dict()).encode()})
    path = Path(out_dir) / job.file_name
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path.name


def _source_stats(paths: list[Path], chat_stats: dict[str, dict]) -> list[dict]:
    """Rows used / skipped by reason per source: chat sources from the plan, asr sources from
    their shards (read skips + audio the decoder rejected)."""
    merged = {name: SourceStats(d["name"], d["kind"]) for name, d in chat_stats.items()}
    for name, d in chat_stats.items():
        merged[name].merge(d)
    for p in paths:
        f = pq.ParquetFile(p)
        meta = (f.schema_arrow.metadata or {}).get(b"ichigo_source_stats")
        if meta is None:
            continue
        d = json.loads(meta)
        st = merged.setdefault(d["name"], SourceStats(d["name"], d["kind"]))
        st.merge(d)
        for err in f.read(columns=["error"]).column("error").to_pylist():
            if err:
                st.used -= 1
                st.skip(err.split(":")[0])
    for st in merged.values():
        require_rows(st)
    return [st.as_dict() for st in merged.values()]


# ---- driver ----
def _shard_ok(path: Path, ids: list[str]) -> bool:
    try:
        return pq.read_table(path, columns=["id"]).column("id").to_pylist() == ids
    except Exception:  # unreadable (should not happen with atomic writes): rebuild it
        return False


@dataclass
class _Summary:
    counts: Counter = field(default_factory=Counter)
    failed: Counter = field(default_factory=Counter)
    secs: float = 0.0
    families: Counter = field(default_factory=Counter)
    augmented: Counter = field(default_factory=Counter)
    gate_checked: int = 0
    gate_dropped: Counter = field(default_factory=Counter)  # voice (without speed/pitch) -> clips
    gate_dropped_family: Counter = field(default_factory=Counter)


def _voice_base(voice: str) -> str:
    try:
        return VoiceSpec.parse(voice).base
    except ValueError:
        return voice


def _summarise(paths: list[Path]) -> _Summary:
    s = _Summary()
    cols = ("split", "kind", "seconds", "error", "voice", "family", "augment", "gated")
    for p in paths:
        t = pq.read_table(p, columns=list(cols))
        for split, kind, secs, err, voice, fam, aug, gated in zip(*(t.column(c).to_pylist() for c in cols)):
            s.counts[f"{split}/{kind}"] += 1
            s.secs += secs
            if err:
                s.failed[err.split(":")[0]] += 1
            if fam:
                s.families[f"{split}/{fam}"] += 1
            for effect in filter(None, (aug or "").split(",")):
                s.augmented[effect.split("=")[0]] += 1
            if gated:
                s.gate_checked += 1
                if err:
                    s.gate_dropped[_voice_base(voice)] += 1
                    s.gate_dropped_family[fam or "(source audio)"] += 1
    return s


def _card_sections(m: CorpusManifest) -> dict[str, dict]:
    sec = {"Rows per voice family (split/family)": m.families,
           "Augmentation (train clips per effect)": m.augmented}
    if m.asr_gate.get("enabled", True):
        g = m.asr_gate
        sec["ASR round-trip gate"] = {"model": g["model"], "max WER": g["max_wer"],
                                      "clips checked": g["checked"], "clips dropped": g["dropped"]}
        sec["ASR gate: dropped clips per voice"] = g["dropped_by_voice"] or {"(none)": 0}
        sec["ASR gate: dropped clips per family"] = g["dropped_by_family"] or {"(none)": 0}
    if m.heldout_families:
        sec["Held-out voice families (never trained on)"] = {k: ", ".join(v) for k, v in m.heldout_families.items()}
    return sec


def build_speech_corpus(profile: Profile, out_dir: str | Path, *, workers: int | None = None,
                        shard_utterances: int = DEFAULT_SHARD_UTTERANCES, progress: bool = True,
                        shard: int = 0, num_shards: int = 1) -> CorpusManifest:
    """The whole corpus, or (num_shards > 1) this fan-out task's share of its shards; the shares
    are joined by `merge_corpus` (see components/synthesize_speech.py)."""
    t0 = time.monotonic()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    workers = max(1, workers or profile.tts.workers)
    if profile.tts.backend != "whisperspeech":  # a missing voice package fails now, not per row
        from ichigo.tts import make_tts
        make_tts(profile.tts)
    # no declared sources: the embedded world, written once in real layouts and read back the same way
    sources = profile.data.sources or write_world_datasets(profile, out_dir / "world", workers, shard, num_shards)
    corpus_plan = plan_corpus(profile, sources, shard_utterances, fanout=num_shards)
    plan = corpus_plan.utterances
    # by name: a step's view leaves other data fields Unsent, which model_dump() warns about
    gate_cfg = {k: getattr(profile.data, k) for k in type(profile.data).model_fields if k.startswith("asr_gate")}
    fp = fingerprint(corpus_plan, {"tts": profile.tts.model_dump(), "shard": shard_utterances,
                                   "gate": gate_cfg, "seed": profile.data.seed})
    plan_file = out_dir / "plan.fingerprint"
    if plan_file.exists() and plan_file.read_text().strip() != fp:
        raise ConfigError(f"{out_dir} holds a corpus built from a different profile/plan; "
                          "use a new output directory or delete this one")
    plan_file.write_text(fp + "\n")
    chat_stats = {k: v.as_dict() for k, v in corpus_plan.stats.items()}
    for name, rows in (("conversations", corpus_plan.conversations), ("text_rows", corpus_plan.text_rows),
                       ("chat_stats", chat_stats)):
        write_json_atomic(out_dir / f"{name}.json", rows)
    for stray in out_dir.glob("*.tmp"):
        stray.unlink(missing_ok=True)
    shards = [plan[i:i + shard_utterances] for i in range(0, len(plan), shard_utterances)]
    mine = [k for k in range(len(shards)) if k % num_shards == shard]
    my_jobs = [j for j in corpus_plan.asr_jobs if j.shard % num_shards == shard]
    todo = [k for k in mine if not ((out_dir / shard_name(k)).is_file()
                                    and _shard_ok(out_dir / shard_name(k), [u.id for u in shards[k]]))]
    # a finished asr shard is complete (write-then-rename): never redone
    asr_todo = [j for j in my_jobs if not (out_dir / j.file_name).is_file()]
    bar = tqdm(total=len(mine) + len(my_jobs), desc="speech corpus", unit="shard", disable=not progress)
    bar.update(len(mine) - len(todo) + len(my_jobs) - len(asr_todo))
    tasks = [(build_shard, (k, shards[k], profile, str(out_dir))) for k in todo]
    tasks += [(build_asr_shard, (j, profile, str(out_dir))) for j in asr_todo]
    if tasks:
        if workers == 1:
            for fn, args in tasks:
                fn(*args)
                bar.update(1)
        else:
            with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=get_context("fork")) as ex:
                for f in as_completed([ex.submit(fn, *args) for fn, args in tasks]):
                    f.result()
                    bar.update(1)
    bar.close()
    paths = [out_dir / shard_name(k) for k in mine] + [out_dir / j.file_name for j in my_jobs]
    resumed = len(paths) - len(todo) - len(asr_todo)
    if num_shards > 1:  # a fan-out share: merge_corpus checks and joins all shares
        write_json_atomic(out_dir / "fanout.json", {
            "shard": shard, "num_shards": num_shards, "fingerprint": fp, "files": [p.name for p in paths],
            "total_files": len(shards) + len(corpus_plan.asr_jobs)})
    return _finish(profile, out_dir, paths, chat_stats, fp, workers, t0, resumed, check_sources=num_shards == 1)


def merge_corpus(profile: Profile, part_dirs: list[str | Path], out_dir: str | Path) -> CorpusManifest:
    """Join the fan-out shares into one corpus (hard links); fails if a share is missing or was
    planned differently."""
    t0 = time.monotonic()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = [Path(d) for d in part_dirs]
    infos = [json.loads((d / "fanout.json").read_text()) for d in parts]
    if len({i["fingerprint"] for i in infos}) != 1:
        raise ConfigError("the synthesis shares were planned from different profiles; rerun them")
    n = infos[0]["num_shards"]
    if sorted(i["shard"] for i in infos) != list(range(n)):
        raise ConfigError(f"synthesis shares {sorted(i['shard'] for i in infos)} do not cover 0..{n - 1}")
    paths = []
    for d, info in zip(parts, infos):
        for name in info["files"]:
            dst = out_dir / name
            if not dst.exists():
                try:
                    os.link(d / name, dst)
                except OSError:  # another filesystem: copy
                    shutil.copyfile(d / name, dst)
            paths.append(dst)
    if len(paths) != infos[0]["total_files"]:
        raise ConfigError(f"the synthesis shares hold {len(paths)} shards, the plan has {infos[0]['total_files']}")
    for name in ("conversations.json", "text_rows.json", "chat_stats.json", "plan.fingerprint"):
        (out_dir / name).write_bytes((parts[0] / name).read_bytes())
    chat_stats = json.loads((out_dir / "chat_stats.json").read_text())
    return _finish(profile, out_dir, sorted(paths), chat_stats, infos[0]["fingerprint"], n, t0, 0)


def _finish(profile: Profile, out_dir: Path, paths: list[Path], chat_stats: dict, fp: str, workers: int,
            t0: float, resumed: int, check_sources: bool = True) -> CorpusManifest:
    sm = _summarise(paths)
    d = profile.data
    gate = ({"model": d.asr_gate_model, "max_wer": d.asr_gate_max_wer, "checked": sm.gate_checked,
             "dropped": sum(sm.gate_dropped.values()),
             "dropped_by_voice": dict(sorted(sm.gate_dropped.items())),
             "dropped_by_family": dict(sorted(sm.gate_dropped_family.items()))}
            if d.asr_gate else {"enabled": False})
    # a share of a fan-out may hold no row of some source; the merged corpus is checked
    source_stats = _source_stats(paths, chat_stats) if check_sources else []
    manifest = CorpusManifest(
        out_dir=str(out_dir), fingerprint=fp, num_utterances=sum(sm.counts.values()),
        num_shards=len(paths),
        counts=dict(sorted(sm.counts.items())), audio_hours=round(sm.secs / 3600, 4), failed=dict(sm.failed),
        sources=source_stats, tts_backend=profile.tts.backend,
        train_voices=list(profile.tts.train_voices), heldout_voices=list(profile.tts.heldout_voices),
        workers=workers, build_seconds=round(time.monotonic() - t0, 2),
        resumed_shards=resumed, families=dict(sorted(sm.families.items())),
        heldout_families={k: list(v) for k, v in profile.tts.heldout_families.items()},
        augmented=dict(sorted(sm.augmented.items())), asr_gate=gate)
    write_json_atomic(out_dir / "manifest.json", asdict(manifest))
    write_dataset_card(out_dir, "Speech corpus", asdict(manifest),
                       "Speech for the Ichigo recipe: real ASR audio from the declared sources, "
                       "instruction prompts and dialogue turns spoken by the TTS (train voices), "
                       "held-out-voice evaluation prompts, and real noise clips. 16 kHz mono WAV "
                       "bytes per row.",
                       sections=_card_sections(manifest))
    return manifest
