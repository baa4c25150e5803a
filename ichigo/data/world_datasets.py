"""The embedded profile's world (ichigo.world), written once as datasets in real layouts, so
the embedded profile reads its data through the same source adapters as a cluster profile:

- `mls/train/transcripts.txt` + `mls/train/audio/<spk>/<book>/<id>.flac`: Multilingual
  LibriSpeech layout, statements (canonical and paraphrased), training questions, question shapes
  around other subjects and everyday sentences spoken by the profile's TTS (speaker = train voice);
- `alpaca/world.jsonl`: every training phrasing of every fact, and greetings, Alpaca schema;
- `alpaca_eval/world.jsonl`: the held-out phrasing (the eval questions; `holdout: true`);
- `typed/world.jsonl`: text-only rows typed in every casing and punctuation (kind `text`);
- `dialogues/world.jsonl`: OpenAI-messages conversations of 2 and 4 spoken-question exchanges.

Resumable: every flac is written with write-then-rename and kept on a rerun; each text file is
written last and atomically, so a file that exists is complete.
"""

from __future__ import annotations

import io
import json
import os
import random
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import soundfile as sf

from ichigo.config import Profile
from ichigo.config.sections import SourceSpec
from ichigo.data.stages import split_counts  # the same counts the stage builder will draw
from ichigo.world import (EVERYDAY, all_facts, mixed_question, small_talk_pairs, train_phrasings, typed_form,
                          unheard_sentence)
from ichigo.errors import IchigoError

MLS_BOOK = "1"  # one "book" per speaker: the world has no chapters
EVERYDAY_SHARE = 1 / 12  # of the ASR corpus: everyday sentences, the words between the facts
MIXED_SHARE = 0.25  # of the ASR corpus: question shapes around other subjects (world.mixed_question)
CHUNK = 50  # utterances per TTS task


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _jsonl(path: Path, rows: list[dict]) -> None:
    if not path.is_file():
        _write_atomic(path, "".join(json.dumps(r) + "\n" for r in rows).encode())


def world_questions() -> list[tuple[str, str, str]]:
    """(id, question, answer) for every training phrasing of every fact, and the greetings."""
    out = []
    for i, f in enumerate(all_facts()):
        for k, q in zip(train_phrasings(f.kind), f.train_questions()):
            out.append((f"w{i:04d}-{k}", q, f.answer))
    out += [(f"talk-{i:03d}", q, a) for i, (q, a) in enumerate(small_talk_pairs())]
    return out


def world_eval_questions() -> list[tuple[str, str, str]]:
    """The held-out phrasing of every fact: the eval set's questions, never a training text."""
    return [(f"w{i:04d}-eval", f.eval_question(), f.answer) for i, f in enumerate(all_facts())]


def typed_rows(rng: random.Random) -> list[dict]:
    """Text-only rows in the forms people type (any casing, with or without the final mark): a
    model trained on one form answered "What is the capital of Japan?" wrong and "what is the
    capital of japan" right."""
    rows = [{"id": f"typed-{i:05d}", "instruction": typed_form(q, rng), "input": "", "output": a}
            for i, (_, q, a) in enumerate(world_questions())]
    rng.shuffle(rows)
    return rows


def voice_spec(name: str, profile: Profile, rng: random.Random) -> str:
    """`name` with a drawn speed (and, for espeak-ng, pitch) unless the name fixes them."""
    if profile.tts.backend == "whisperspeech" or name.count(":") > name.startswith("piper:"):
        return name  # whisperspeech, or a voice that already fixes its speed/pitch
    if name.startswith("piper:"):  # Piper has speed (percent of its natural rate) but no pitch
        return f"{name}:s{rng.choice(profile.tts.piper_speeds)}"
    return f"{name}:s{rng.choice(profile.tts.speeds)}:p{rng.choice(profile.tts.pitches)}"


def train_voices(profile: Profile) -> list[str]:
    default = {"whisperspeech": ["default"], "piper": ["piper:joe"]}.get(profile.tts.backend, ["en-us"])
    return profile.tts.train_voices or default


def _dialogues(profile: Profile, qs: list[tuple[str, str, str]], rng: random.Random) -> list[dict]:
    counts = split_counts(profile.data.stage3_samples, profile.data.stage3_mix)
    rows = []
    for task, exchanges in (("two_turn", 2), ("four_turn", 4)):
        for i in range(max(1, counts.get(task, 0))):
            msgs = []
            for _, q, a in rng.sample(qs, exchanges):
                msgs += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
            rows.append({"id": f"{task}-{i:05d}", "messages": msgs})
    return rows


def _speak(items: list[tuple[str, str, str]], profile: Profile) -> list[str]:
    """Render (text, voice, flac path) items; returns the texts the TTS could not speak."""
    from ichigo.tts import process_tts
    from ichigo.tts.mixed import reseed_for

    tts = process_tts(profile.tts)
    if items:
        reseed_for(tts, Path(items[0][2]).name, profile.data.seed)
    failed = []
    for text, voice, path in items:
        try:
            wave = tts.synthesize([text], voice)[0]
        except IchigoError:
            failed.append(text)  # the MLS reader then counts the row as missing_audio
            continue
        buf = io.BytesIO()
        sf.write(buf, wave, 16000, format="FLAC")
        _write_atomic(Path(path), buf.getvalue())
    return failed


def _asr_corpus(profile: Profile, rng: random.Random) -> list[tuple[str, str, str, str]]:
    """(utterance id, speaker, text, voice spec) of every row of the world's MLS corpus, drawn
    from `rng` seeded with data.seed (the writer goes on drawing from it; the test split's
    exclusions draw the same list from a fresh one)."""
    d = profile.data
    facts = all_facts()
    voices = train_voices(profile)
    rows = []
    for i in range(d.stage1_utterances):
        f = rng.choice(facts)
        r = rng.random()
        text = (rng.choice(EVERYDAY) if r < EVERYDAY_SHARE else mixed_question(rng, facts)
                if r < EVERYDAY_SHARE + MIXED_SHARE else f.spoken_text(rng))
        v = rng.randrange(len(voices))
        spk = f"{100 + v}"
        rows.append((f"{spk}_{MLS_BOOK}_{i:06d}", spk, text, voice_spec(voices[v], profile, rng)))
    return rows


def asr_test_sentences(profile: Profile, n: int) -> list[str]:
    """The world's ASR test split: `n` distinct sentences of the ASR corpus's kinds that no
    training row speaks or writes (its transcripts, every question phrasing, the everyday
    sentences), for WER on held-out voices (data.num_eval_sentences)."""
    if not n:
        return []
    facts = all_facts()
    heard = {text for _, _, text, _ in _asr_corpus(profile, random.Random(profile.data.seed))} | set(EVERYDAY)
    heard |= {q for _, q, _ in world_questions() + world_eval_questions()}
    rng = random.Random(profile.data.seed + 3)
    out: list[str] = []
    for _ in range(n):
        out.append(unheard_sentence(rng, facts, heard))
        heard.add(out[-1])
    return out


def write_world_datasets(profile: Profile, root: str | Path, workers: int = 1, shard: int = 0,
                         num_shards: int = 1) -> list[SourceSpec]:
    """All three datasets; with a fan-out, only the flac files of rows i = shard (mod num_shards),
    the rows this task's asr shards read (corpus_plan gives the world a multiple of num_shards)."""
    root = Path(root)
    d = profile.data
    rng = random.Random(d.seed)
    lines, todo = [], []
    split_dir = root / "mls" / "train"
    for i, (utt, spk, text, voice) in enumerate(_asr_corpus(profile, rng)):
        path = split_dir / "audio" / spk / MLS_BOOK / f"{utt}.flac"
        lines.append(f"{utt}\t{text}\n")
        if i % num_shards == shard and not path.is_file():
            todo.append((text, voice, str(path)))
    if todo:
        chunks = [todo[k:k + CHUNK] for k in range(0, len(todo), CHUNK)]
        if workers <= 1:
            for c in chunks:
                _speak(c, profile)
        else:
            with ProcessPoolExecutor(max_workers=min(workers, len(chunks)), mp_context=get_context("fork")) as ex:
                for fut in as_completed([ex.submit(_speak, c, profile) for c in chunks]):
                    fut.result()
    if not (split_dir / "transcripts.txt").is_file():
        _write_atomic(split_dir / "transcripts.txt", "".join(lines).encode())
    # shuffled once, so the first num_train_questions rows (the ones the plan speaks) span every
    # kind of fact; the dialogues use those rows, so their user turns reuse the spoken prompts
    qs = world_questions()
    random.Random(d.seed).shuffle(qs)
    _jsonl(root / "alpaca" / "world.jsonl", [
        {"id": i, "instruction": q, "input": "", "output": a} for i, q, a in qs])
    _jsonl(root / "dialogues" / "world.jsonl", _dialogues(profile, qs[:max(4, d.num_train_questions)], rng))
    _jsonl(root / "alpaca_eval" / "world.jsonl", [
        {"id": i, "instruction": q, "input": "", "output": a} for i, q, a in world_eval_questions()])
    _jsonl(root / "typed" / "world.jsonl", typed_rows(random.Random(d.seed + 2)))
    return [SourceSpec(name="world_asr", kind="asr", format="mls", uri=str(root / "mls"),
                       asr_gate=d.asr_gate_world_corpus),
            SourceSpec(name="world_instruct", kind="instruct", format="alpaca", uri=str(root / "alpaca")),
            SourceSpec(name="world_eval", kind="instruct", format="alpaca", uri=str(root / "alpaca_eval"),
                       holdout=True),
            SourceSpec(name="world_typed", kind="text", format="alpaca", uri=str(root / "typed")),
            SourceSpec(name="world_dialogues", kind="dialogue", format="messages", uri=str(root / "dialogues"))]
