"""Tiny datasets in the real layouts (MLS, LibriSpeech, Common Voice, HF parquet, Alpaca, OpenAI
messages, ShareGPT), each with a few broken rows, written by the tests themselves."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import soundfile as sf


def tone(seconds: float = 0.5, freq: float = 220.0, fmt: str = "FLAC", subtype: str | None = None) -> bytes:
    t = np.arange(int(16000 * seconds)) / 16000
    buf = io.BytesIO()
    sf.write(buf, (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32), 16000, format=fmt, subtype=subtype)
    return buf.getvalue()


def write_mls(root: Path, split: str = "train") -> Path:
    """4 good rows (flac and opus), 1 missing audio, 1 corrupt audio, 1 empty text, 1 malformed line."""
    d = root / split
    lines = []
    for n, (spk, book, fmt) in enumerate([("10", "100", "flac"), ("10", "100", "opus"),
                                          ("11", "200", "flac"), ("12", "300", "flac")]):
        utt = f"{spk}_{book}_{n:06d}"
        folder = d / "audio" / spk / book
        folder.mkdir(parents=True, exist_ok=True)
        data = tone(0.4 + 0.1 * n) if fmt == "flac" else tone(0.5, fmt="OGG", subtype="OPUS")
        (folder / f"{utt}.{fmt}").write_bytes(data)
        lines.append(f"{utt}\tspoken words number {n}")
    (d / "audio" / "13" / "400").mkdir(parents=True)
    (d / "audio" / "13" / "400" / "13_400_000002.flac").write_bytes(b"not audio at all")
    (d / "audio" / "13" / "400" / "13_400_000003.flac").write_bytes(tone(0.3))
    lines += ["13_400_000001\tno audio file", "13_400_000002\tcorrupt file",
              "13_400_000003\t   ", "this line has no tab"]
    (d / "transcripts.txt").write_text("\n".join(lines) + "\n")
    return root


def write_librispeech(root: Path) -> Path:
    """3 good rows in two chapters, 1 missing flac."""
    for spk, ch, utts in (("84", "121123", [0, 1]), ("174", "50561", [0, 1])):
        d = root / "dev-clean" / spk / ch
        d.mkdir(parents=True)
        lines = []
        for u in utts:
            uid = f"{spk}-{ch}-{u:04d}"
            if (spk, u) != ("174", 1):
                (d / f"{uid}.flac").write_bytes(tone(0.3 + 0.1 * u))
            lines.append(f"{uid} HELLO FROM {spk.upper()} NUMBER {u}")
        (d / f"{spk}-{ch}.trans.txt").write_text("\n".join(lines) + "\n")
    return root


def write_commonvoice(root: Path) -> Path:
    """2 good mp3-less rows (opus clips renamed as CV ships mp3; any decodable container works),
    1 empty sentence, 1 missing clip."""
    (root / "clips").mkdir(parents=True)
    (root / "clips" / "common_voice_en_1.mp3").write_bytes(tone(0.5, fmt="OGG", subtype="OPUS"))
    (root / "clips" / "common_voice_en_2.mp3").write_bytes(tone(0.6))
    (root / "clips" / "common_voice_en_3.mp3").write_bytes(tone(0.6))
    rows = [("c1", "common_voice_en_1.mp3", 'He said "hello" there'),
            ("c2", "common_voice_en_2.mp3", "A second sentence"),
            ("c3", "common_voice_en_3.mp3", ""),
            ("c4", "common_voice_en_4.mp3", "missing clip")]
    head = "client_id\tpath\tsentence\tup_votes\tdown_votes\tage\tgender\taccents\tlocale\tsegment\n"
    body = "".join(f"{c}\t{p}\t{s}\t2\t0\t\t\t\ten\t\n" for c, p, s in rows)
    (root / "train.tsv").write_text(head + body)
    return root


def write_parquet_asr(root: Path) -> Path:
    """HF datasets layout: audio as {bytes, path} struct, as plain path, and broken rows."""
    d = root / "data"
    d.mkdir(parents=True)
    (d / "clip.flac").write_bytes(tone(0.4))
    rows = [{"id": "p0", "audio": {"bytes": tone(0.5), "path": "p0.flac"}, "transcription": "struct bytes"},
            {"id": "p1", "audio": {"bytes": None, "path": "clip.flac"}, "transcription": "by path"},
            {"id": "p2", "audio": {"bytes": b"garbage", "path": None}, "transcription": "corrupt"},
            {"id": "p3", "audio": {"bytes": tone(40.0), "path": None}, "transcription": "too long"},
            {"id": "p4", "audio": {"bytes": tone(0.3), "path": None}, "transcription": ""}]
    pq.write_table(pa.Table.from_pylist(rows), d / "train-00000-of-00001.parquet")
    return root


def write_alpaca(path: Path) -> Path:
    rows = [{"instruction": "Name a color.", "input": "", "output": "Blue."},
            {"instruction": "Translate to French.", "input": "cat", "output": "chat"},
            {"instruction": "", "input": "", "output": "orphan"},
            {"instruction": 5, "input": "", "output": "wrong type"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken json\n")
    return path


def write_messages(path: Path) -> Path:
    convs = [
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
         {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Sky color?"},
         {"role": "assistant", "content": "Blue."}],
        [{"role": "user", "content": [{"type": "text", "text": "parts"}]},
         {"role": "assistant", "content": "ok"}],
        [{"role": "user", "content": "no answer"}],
        [{"role": "wizard", "content": "?"}, {"role": "assistant", "content": "x"}],
    ]
    path.write_text("".join(json.dumps({"id": f"m{i}", "messages": c}) + "\n" for i, c in enumerate(convs)))
    return path


def write_sharegpt(path: Path) -> Path:
    convs = [[{"from": "human", "value": "q1"}, {"from": "gpt", "value": "a1"},
              {"from": "human", "value": "q2"}, {"from": "gpt", "value": "a2"}],
             [{"from": "system", "value": "s"}, {"from": "human", "value": "q"}, {"from": "gpt", "value": ""}]]
    pq.write_table(pa.Table.from_pylist([{"id": f"g{i}", "conversations": c} for i, c in enumerate(convs)]), path)
    return path


def write_dialogues(path: Path) -> Path:
    """OpenAI-messages dialogues: 2-turn and 4-turn conversations, one single-turn (not usable
    for stage 3), one with an over-long user turn."""
    convs = []
    for i in range(6):
        turns = 2 if i % 2 else 4
        convs.append([m for k in range(turns) for m in (
            {"role": "user", "content": f"conversation {i} question {k}"},
            {"role": "assistant", "content": f"answer {k} of conversation {i}"})])
    convs.append([{"role": "user", "content": "only once"}, {"role": "assistant", "content": "ok"}])
    convs.append([{"role": "user", "content": "word " * 200}, {"role": "assistant", "content": "long"},
                  {"role": "user", "content": "short"}, {"role": "assistant", "content": "x"}])
    path.write_text("".join(json.dumps({"id": f"d{i}", "messages": c}) + "\n" for i, c in enumerate(convs)))
    return path
