"""Synthetic stage datasets with random sound codes, shaped like the real ones (for tests,
benchmarks and smoke runs of the recipe; the pipeline's real data comes from ichigo.data)."""

from __future__ import annotations

import random
from pathlib import Path

from ichigo.chat_template import Message, Sound, user_audio
from ichigo.records import StageRow, write_stage_shard
from ichigo.sound_tokens import NUM_SOUND_TOKENS

_WORDS = ("the river flows north past the old mill and the bridge where two roads meet near a "
          "small town famous for its bread cheese and quiet winter markets").split()
_PROMPTS = ("Transcribe the following audio clip:", "Convert the spoken words to text:")


def _text(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(rng.randint(lo, hi))).capitalize() + "."


def _codes(rng: random.Random, lo: int, hi: int) -> list[int]:
    return [rng.randrange(NUM_SOUND_TOKENS) for _ in range(rng.randint(lo, hi))]


def synthetic_rows(stage: str, n: int, seed: int = 0, scale: float = 1.0) -> list[StageRow]:
    """`scale` stretches utterance/answer lengths (1.0: a few seconds of speech at 25 tokens/s)."""
    rng = random.Random(seed)
    s = lambda lo, hi: (max(1, int(lo * scale)), max(1, int(hi * scale)))  # noqa: E731
    rows: list[StageRow] = []
    for i in range(n):
        if stage == "stage1":
            rows.append(StageRow(f"s1-{i}", "sound_only", codes=_codes(rng, *s(20, 120))))
            continue
        if stage == "stage2":
            task = rng.choices(["speech_qa", "transcription", "text"], [0.7, 0.2, 0.1])[0]
            if task == "speech_qa":
                msgs = [user_audio(_codes(rng, *s(15, 90))), Message("assistant", _text(rng, *s(3, 30)))]
            elif task == "transcription":
                msgs = [user_audio(_codes(rng, *s(15, 90)), rng.choice(_PROMPTS)),
                        Message("assistant", _text(rng, *s(3, 20)))]
            else:
                msgs = [Message("user", _text(rng, *s(3, 15)) + "?"), Message("assistant", _text(rng, *s(3, 30)))]
        else:
            task = rng.choices(["two_turn", "four_turn", "inaudible"], [0.89, 0.06, 0.05])[0]
            turns = 2 if task == "four_turn" else 1
            msgs = []
            for _ in range(turns):
                msgs += [Message("user", [Sound(_codes(rng, *s(15, 70)))]),
                         Message("assistant", "I cannot hear you clearly." if task == "inaudible"
                                 else _text(rng, *s(3, 25)))]
        rows.append(StageRow(f"{stage}-{i}", task, messages=msgs))
    return rows


def write_synthetic_stage(directory: str | Path, stage: str, n: int, seed: int = 0,
                          scale: float = 1.0, shard_size: int = 500) -> Path:
    d = Path(directory)
    rows = synthetic_rows(stage, n, seed, scale)
    for k in range(0, len(rows), shard_size):
        write_stage_shard(rows[k:k + shard_size], d / f"part-{k // shard_size:05d}.parquet")
    return d
