"""Step 3: sound codes for every corpus utterance, batched, one output shard per corpus shard
(resumable: a finished shard is never redone). Bad audio is skipped with a counted reason; the
row stays in the shard (codes null, `skip` set) so the counts survive a resume."""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from ichigo.audio import AudioError, SAMPLE_RATE, check_wave, read_audio
from ichigo.config import Profile
from ichigo.data.cards import write_dataset_card
from ichigo.files import shard_paths, write_json_atomic
from ichigo.speech_tokenizer import load_speech_tokenizer

TOKENS_SCHEMA = pa.schema([
    ("id", pa.string()), ("split", pa.string()), ("kind", pa.string()), ("text", pa.string()),
    ("answer", pa.string()), ("voice", pa.string()), ("seconds", pa.float32()),
    ("codes", pa.list_(pa.int16())), ("audio_wav", pa.binary()), ("skip", pa.string()),
])
MAX_UTTERANCE_SECONDS = 120.0  # longer is rejected; up to this, the tokenizer chunks


@dataclass
class TokensManifest:
    out_dir: str
    tokenizer: str
    num_rows: int
    num_tokenized: int
    skipped: dict[str, int] = field(default_factory=dict)
    resampled: int = 0
    chunked: int = 0
    total_tokens: int = 0
    build_seconds: float = 0.0


def _prepare(rec: dict, chunk_seconds: float, stats: Counter):
    """16 kHz wave or a skip reason."""
    if rec["error"]:
        return None, "tts_failed"
    if rec["kind"] in ("question", "turn", "asr", "sentence") and not (rec["text"] or "").strip():
        return None, "empty_text"
    try:
        wave, sr = read_audio(rec["audio_wav"])
        if sr != SAMPLE_RATE:
            stats["resampled"] += 1
        chunks = check_wave(wave, sr, max_seconds=MAX_UTTERANCE_SECONDS, too_long="reject")
    except AudioError as e:
        return None, e.reason
    if len(chunks[0]) > chunk_seconds * SAMPLE_RATE:
        stats["chunked"] += 1
    return chunks[0], None


def _tokenize_shard(src: Path, dst: Path, tok, batch_size: int, chunk_seconds: float) -> None:
    recs = pq.read_table(src).to_pylist()
    stats: Counter = Counter()
    prepared = [_prepare(r, chunk_seconds, stats) for r in recs]
    ok = [i for i, (w, _) in enumerate(prepared) if w is not None]
    codes: dict[int, list[int]] = {}
    for s in range(0, len(ok), batch_size):
        idx = ok[s:s + batch_size]
        for i, c in zip(idx, tok.encode_batch([prepared[i][0] for i in idx])):
            codes[i] = c
    rows = []
    for i, r in enumerate(recs):
        rows.append({k: r[k] for k in ("id", "split", "kind", "text", "answer", "voice", "seconds")} | {
            "codes": codes.get(i), "skip": prepared[i][1] or "",
            # audio kept only where later steps need it (eval latency tests)
            "audio_wav": r["audio_wav"] if r["split"] == "eval" else b""})
    table = pa.Table.from_pylist(rows, schema=TOKENS_SCHEMA)
    meta = {b"ichigo_stats": json.dumps(dict(stats)).encode()}
    table = table.replace_schema_metadata(meta)
    tmp = dst.with_name(dst.name + ".tmp")
    pq.write_table(table, tmp)
    tmp.replace(dst)


_TOK = None  # a pool worker's tokenizer, loaded once by _init_worker


def _init_worker(cfg, tokenizer_path: str) -> None:
    global _TOK
    import torch
    torch.set_num_threads(1)  # the pool fills the cores
    _TOK = load_speech_tokenizer(cfg, tokenizer_path)


def _worker_shard(src: Path, dst: Path, batch_size: int, chunk_seconds: float) -> None:
    _tokenize_shard(src, dst, _TOK, batch_size, chunk_seconds)


def _tokenize_shards(todo: list[tuple[Path, Path]], cfg, tok, tokenizer_path, progress: bool) -> None:
    """`tok` encodes in this process; worker processes load their own from `tokenizer_path`.
    Codes are per item (see whisper_vq), so which process encodes a shard does not matter."""
    bar = tqdm(total=len(todo), desc="tokenize", unit="shard", disable=not progress)
    if cfg.workers <= 1 or len(todo) <= 1:
        for src, dst in todo:
            _tokenize_shard(src, dst, tok, cfg.batch_size, cfg.max_chunk_seconds)
            bar.update()
    else:
        # spawn: this process has loaded the tokenizer (torch ops); a forked child could inherit
        # its OpenMP pool half-used
        with ProcessPoolExecutor(max_workers=min(cfg.workers, len(todo)), mp_context=get_context("spawn"),
                                 initializer=_init_worker, initargs=(cfg, str(tokenizer_path))) as ex:
            futs = [ex.submit(_worker_shard, src, dst, cfg.batch_size, cfg.max_chunk_seconds) for src, dst in todo]
            for f in as_completed(futs):
                f.result()
                bar.update()
    bar.close()


def tokenize_corpus(profile: Profile, corpus_dir: str | Path, tokenizer_path: str | Path,
                    out_dir: str | Path, progress: bool = True) -> TokensManifest:
    t0 = time.monotonic()
    cfg = profile.speech_tokenizer
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok = load_speech_tokenizer(cfg, tokenizer_path)  # a missing or corrupt one fails here, once
    srcs = shard_paths(Path(corpus_dir))
    for plan_file in ("conversations.json", "text_rows.json"):  # the stage builder needs both
        if (Path(corpus_dir) / plan_file).is_file():
            shutil.copyfile(Path(corpus_dir) / plan_file, out_dir / plan_file)
    todo = [(src, out_dir / src.name) for src in srcs if not (out_dir / src.name).is_file()]
    _tokenize_shards(todo, cfg, tok, tokenizer_path, progress)
    skipped, stats = Counter(), Counter()
    n_rows = n_ok = n_tok = 0
    for dst in shard_paths(out_dir):
        t = pq.read_table(dst, columns=["codes", "skip"])
        stats.update(json.loads((t.schema.metadata or {}).get(b"ichigo_stats", b"{}")))
        for c, s in zip(t.column("codes").to_pylist(), t.column("skip").to_pylist()):
            n_rows += 1
            if s:
                skipped[s] += 1
            else:
                n_ok += 1
                n_tok += len(c)
    m = TokensManifest(out_dir=str(out_dir), tokenizer=str(tokenizer_path), num_rows=n_rows,
                       num_tokenized=n_ok, skipped=dict(skipped), resampled=stats["resampled"],
                       chunked=stats["chunked"], total_tokens=n_tok,
                       build_seconds=round(time.monotonic() - t0, 2))
    write_json_atomic(out_dir / "manifest.json", asdict(m))
    write_dataset_card(out_dir, "Sound-token corpus", asdict(m),
                       f"Every corpus utterance as {cfg.backend} sound codes (25/s, 0..511). "
                       "Rows that could not be tokenized keep their id with `skip` set to the reason.")
    return m
