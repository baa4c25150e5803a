"""What the speech corpus holds, decided up front and deterministically from the profile's sources.

- `asr` sources become corpus shards of real audio (stage 1, transcription rows), one job per
  (source, shard k of n): the worker streams its shard of the source, so no dataset is ever held
  in memory and a finished shard is never redone;
- `instruct` sources give the prompts the TTS speaks (train voices: speech-QA; held-out voices:
  the eval set) and single-turn text rows;
- `text` sources give text-only rows (single and multi-turn);
- `dialogue` sources give stage 3's conversations: every user turn of one conversation is spoken
  (a turn whose text is already spoken as a prompt reuses that audio).

The plan (stable ids, shard k always holding the same rows) is what makes the build resumable.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import asdict, dataclass, field

from ichigo.config import Profile
from ichigo.config.sections import SourceSpec
from ichigo.data.noise import NOISE_KINDS
from ichigo.data.sources import SourceStats, count_positions, iter_source, require_rows
from ichigo.data.stages import split_counts  # the counts the stage builder will draw
from ichigo.data.world_datasets import asr_test_sentences, train_voices, voice_spec
from ichigo.errors import InputError


@dataclass(frozen=True)
class Utterance:
    id: str
    split: str  # "train" | "eval"
    kind: str  # "question" | "turn" | "noise" | "asr" | "sentence" (ASR test split, eval only)
    text: str  # what is spoken ("" for noise; for noise: the noise kind lives in `voice`)
    answer: str
    voice: str  # TTS voice spec, "noise:<kind>:<seconds>", or "source:<name>:<language>"
    audio: bytes = b""  # only for asr rows (filled in the shard worker, never in the plan)


@dataclass(frozen=True)
class AsrJob:
    source: SourceSpec
    shard: int
    num_shards: int

    @property
    def file_name(self) -> str:
        return f"part-asr-{self.source.name}-{self.shard:05d}.parquet"


@dataclass
class CorpusPlan:
    utterances: list[Utterance]
    asr_jobs: list[AsrJob]
    conversations: list[dict]  # {"id", "task": two_turn|four_turn, "messages": [{role, content}]}
    text_rows: list[dict]  # {"id", "messages"}
    stats: dict[str, SourceStats] = field(default_factory=dict)  # chat sources (asr: per shard)


def synthesis_fanout(profile: Profile) -> dict:
    """The pipeline parameters of the synthesis fan-out: the share numbers."""
    return {"synthesis_shares": list(range(profile.data.synthesis_shards))}


def synthesis_gpus(profile: Profile) -> int:
    """GPUs per synthesis share: one when the TTS runs on a GPU (WhisperSpeech on cuda)."""
    return int(profile.tts.backend == "whisperspeech" and profile.training.device == "cuda")


def noise_counts(profile: Profile) -> tuple[int, int]:
    d = profile.data
    return max(16, d.num_train_questions // 40), max(8, d.num_eval_questions // 4)


def _first_exchange(messages: list[dict]) -> tuple[str, str]:
    body = [m for m in messages if m["role"] != "system"]
    return body[0]["content"], body[1]["content"]


def _stream(specs: list[SourceSpec], stats: dict[str, SourceStats], enough) -> list:
    """Rows of these sources in order, until `enough(rows)`; fails naming a source with no rows."""
    rows: list = []
    for spec in specs:
        st = stats.setdefault(spec.name, SourceStats(spec.name, spec.kind))
        for row in iter_source(spec, stats=st):
            rows.append(row)
            if enough(rows):
                return rows
    return rows


def _cycle(items: list, n: int, rng: random.Random) -> list:
    """n items drawn in shuffled passes: every item is used before any repeats."""
    out: list = []
    while len(out) < n:
        batch = list(items)
        rng.shuffle(batch)
        out += batch
    return out[:n]


def plan_corpus(profile: Profile, sources: list[SourceSpec], shard_utterances: int = 100,
                fanout: int = 1) -> CorpusPlan:
    """`fanout`: the number of synthesis tasks; each asr source gets a multiple of it in shards,
    so task i reads rows i, i + fanout, ... of the source only (its share of the world's audio)."""
    d, tts = profile.data, profile.tts
    voices = train_voices(profile)
    heldout = tts.heldout_voices or voices
    rng = random.Random(d.seed)
    stats: dict[str, SourceStats] = {}
    by_kind = {k: [s for s in sources if s.kind == k and not s.holdout]
               for k in ("asr", "instruct", "dialogue", "text")}
    holdout = [s for s in sources if s.holdout]
    n2 = split_counts(d.stage2_samples, d.stage2_mix)
    n3 = split_counts(d.stage3_samples, d.stage3_mix)
    if not by_kind["instruct"]:
        raise InputError("data.sources has no instruct source: stage 2 needs prompts to speak")
    if n3["two_turn"] + n3["four_turn"] and not by_kind["dialogue"]:
        raise InputError("data.stage3_mix has two_turn/four_turn rows but data.sources has no dialogue source")

    # ---- spoken prompts (instruct): distinct rows up to the number of questions to speak
    def spoken_ok(spec_name: str, text: str) -> bool:
        if len(text) <= d.max_spoken_chars:
            return True
        stats[spec_name].skip("too_long_to_speak")
        stats[spec_name].used -= 1
        return False

    def spoken_prompts(specs: list[SourceSpec], n: int) -> list[tuple[str, str, str]]:
        out = []
        for row in _stream(specs, stats, lambda r: len(r) >= n):
            q, a = _first_exchange(row.messages)
            if spoken_ok(row.id.split("/")[0], q):
                out.append((row.id, q, a))
        return out

    # held out means held out: no eval question text is ever a training prompt
    if holdout:
        eval_prompts = spoken_prompts(holdout, d.num_eval_questions)
        if not eval_prompts:
            raise InputError(f"holdout sources {[s.name for s in holdout]} yield no question to speak")
        prompts = spoken_prompts(by_kind["instruct"], d.num_train_questions)
    else:
        prompts = spoken_prompts(by_kind["instruct"], d.num_train_questions + d.num_eval_questions)
        distinct = list(dict.fromkeys(q for _, q, _ in prompts))
        if len(distinct) < 2:
            raise InputError("the instruct sources hold fewer than 2 distinct prompts: there is none to "
                             "hold out for evaluation (declare an instruct source with holdout: true)")
        held = set(distinct[:min(d.num_eval_questions, max(1, len(distinct) // 10))])
        eval_prompts = [p for p in prompts if p[1] in held]
        prompts = [p for p in prompts if p[1] not in held]
    if not prompts or not eval_prompts:
        raise InputError(f"no instruct row has a prompt of <= {d.max_spoken_chars} characters "
                         "(data.max_spoken_chars) to speak")
    out: list[Utterance] = []
    for i, (_, q, a) in enumerate(_cycle(prompts, d.num_train_questions, rng)):
        out.append(Utterance(f"q-{i:07d}", "train", "question", q, a, voice_spec(rng.choice(voices), profile, rng)))
    for i, (_, q, a) in enumerate(_cycle(eval_prompts, d.num_eval_questions, random.Random(d.seed + 1))):
        out.append(Utterance(f"eval-{i:06d}", "eval", "question", q, a, voice_spec(rng.choice(heldout), profile, rng)))

    # ---- text-only rows: instruct exchanges (single turn) and text sources (single/multi-turn)
    n_text = n2["text"] + n3.get("text", 0)
    text_rows = [{"id": pid, "messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
                 for pid, q, a in prompts[:max(n_text, 1)]]
    if by_kind["text"]:
        text_rows += [{"id": r.id, "messages": r.messages}
                      for r in _stream(by_kind["text"], stats, lambda r: len(r) >= n_text)]

    # ---- stage-3 conversations: all user turns of one conversation spoken
    conversations: list[dict] = []
    if by_kind["dialogue"]:
        want = {"two_turn": n3["two_turn"], "four_turn": n3["four_turn"]}
        got = {"two_turn": 0, "four_turn": 0}

        def full(_rows) -> bool:
            return all(got[k] >= want[k] for k in want)

        def take(row) -> None:
            src = row.id.split("/")[0]
            body = [m for m in row.messages if m["role"] != "system"]
            turns = row.user_turns
            task = "four_turn" if turns >= 4 else "two_turn" if turns >= 2 else None
            if task is None:
                stats[src].skip("single_turn")
                stats[src].used -= 1
                return
            if task == "two_turn":
                body = body[:4]  # a 3-exchange conversation serves as a two-turn one
            if got[task] >= want[task]:
                return
            if any(len(m["content"]) > d.max_spoken_chars for m in body if m["role"] == "user"):
                stats[src].skip("too_long_to_speak")
                stats[src].used -= 1
                return
            system = [m for m in row.messages if m["role"] == "system"][:1]
            conversations.append({"id": row.id, "task": task, "messages": system + body})
            got[task] += 1

        for spec in by_kind["dialogue"]:
            st = stats.setdefault(spec.name, SourceStats(spec.name, spec.kind))
            for row in iter_source(spec, stats=st):
                take(row)
                if full(None):
                    break
            if full(None):
                break
        for task in want:
            if want[task] and not got[task]:
                raise InputError(f"no dialogue source has a usable {task} conversation "
                                 f"({'>= 4' if task == 'four_turn' else '2-3'} user turns)")
        spoken = {u.text for u in out if u.split == "train"}
        k = 0
        for conv in conversations:
            msgs = conv["messages"]
            for j, m in enumerate(msgs):
                if m["role"] == "user" and m["content"] not in spoken:
                    answer = msgs[j + 1]["content"] if j + 1 < len(msgs) else ""
                    out.append(Utterance(f"t-{k:07d}", "train", "turn", m["content"], answer,
                                         voice_spec(rng.choice(voices), profile, rng)))
                    spoken.add(m["content"])
                    k += 1

    # ---- real noise (inaudible refusals and their eval)
    n_train_noise, n_eval_noise = noise_counts(profile)
    for split, n in (("train", n_train_noise), ("eval", n_eval_noise)):
        for i in range(n):
            kind = NOISE_KINDS[i % len(NOISE_KINDS)]
            out.append(Utterance(f"noise-{split}-{i:05d}", split, "noise", "", "",
                                 f"noise:{kind}:{rng.uniform(1.0, 5.0):.2f}"))

    # ---- the embedded world's ASR test split, spoken by the held-out voices like the eval
    # questions (DataConfig allows it only without declared sources). Last, and from its own
    # draws: the rows above do not move
    srng = random.Random(d.seed + 3)
    for i, text in enumerate(asr_test_sentences(profile, d.num_eval_sentences)):
        out.append(Utterance(f"sent-{i:06d}", "eval", "sentence", text, "",
                             voice_spec(heldout[i % len(heldout)], profile, srng)))

    # ---- real speech: shard jobs over each asr source (rows are read by the workers)
    jobs = []
    for spec in by_kind["asr"]:
        n = max(1, math.ceil(count_positions(spec) / shard_utterances))
        n = math.ceil(n / fanout) * fanout
        jobs += [AsrJob(spec, k, n) for k in range(n)]
    for st in stats.values():
        require_rows(st)
    return CorpusPlan(out, jobs, conversations, text_rows, stats)


def fingerprint(plan: CorpusPlan, extra: dict) -> str:
    h = hashlib.sha256(json.dumps(extra, sort_keys=True).encode())
    for u in plan.utterances:
        h.update(json.dumps({k: v for k, v in asdict(u).items() if k != "audio"}).encode())
    for j in plan.asr_jobs:
        # the uri is left out: each fan-out task writes the embedded world under its own output
        h.update(json.dumps([j.source.model_dump(exclude={"uri"}), j.shard, j.num_shards]).encode())
    h.update(json.dumps([plan.conversations, plan.text_rows]).encode())
    return h.hexdigest()[:16]
