"""Step 4: the three training mixes and the held-out eval sets, from the tokenized corpus.

stage1: sound-only rows of the real ASR audio, language-tagged (row ids and manifest).
stage2 (`data.stage2_mix`): speech_qa (spoken instruct prompts), transcription (ASR audio with
one of the recipe's 8 prompts; `data.transcribe_spoken_prompts` of them the spoken prompts), text (instruct/text sources, single and multi-turn).
stage3 (`data.stage3_mix`): two_turn, four_turn (real dialogues: every user turn of ONE
conversation spoken), inaudible (random
codes with lengths drawn from the audible stage-2 query lengths, real-noise codes, shuffled real
codes -> a varied refusal; half of them after an audible exchange), and optionally transcription
and text rows replayed from stage 2. Every turn is built with
`ichigo.chat_template`. Each stage directory gets shards, manifest.json, a dataset card and a
token-length histogram PNG.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from ichigo.chat_template import Message, user_audio
from ichigo.config import Profile
from ichigo.data.cards import dataset_card_path, write_dataset_card
from ichigo.data.refusals import get_refusals
from ichigo.data.stage_plan import CHARS_PER_TOKEN, StagePlan, format_plan, plan_from_lengths, row_tokens
from ichigo.errors import InputError
from ichigo.prompts import TRANSCRIBE_PROMPTS
from ichigo.files import shard_paths, write_json_atomic
from ichigo.records import EVAL_ASR_FILE, EvalItem, StageRow, write_eval_items, write_stage_shard
from ichigo.refusal import is_refusal
from ichigo.sound_tokens import NUM_SOUND_TOKENS
from ichigo.tts.families import family_of

HIST_EDGES = [0, 25, 50, 75, 100, 150, 200, 300, 400, 600, 800, 1200]


@dataclass
class StageSummary:
    rows: int
    counts: dict[str, int]
    audio_hours: float
    sound_tokens: int
    histogram: dict  # {"edges": [...], "counts": [...]} of sound tokens per row
    card: str = ""
    plan: dict = field(default_factory=dict)  # stage_plan.StagePlan: samples, tokens, packs, steps, epochs


@dataclass
class StagesManifest:
    out_dir: str
    stages: dict[str, StageSummary]
    eval: dict[str, int]
    refusal_source: str
    refusal_like_audible: dict[str, int]  # found / kept / dropped
    inaudible_sources: dict[str, int]
    plot: str
    seed: int
    extra: dict = field(default_factory=dict)


@dataclass
class _Utt:
    id: str
    kind: str
    text: str
    answer: str
    codes: list[int]
    seconds: float
    voice: str = ""

    @property
    def language(self) -> str:  # asr rows: voice "source:<name>:<language>"
        return self.voice.split(":")[2] if self.voice.startswith("source:") else "en"


def split_counts(total: int, mix: dict[str, float]) -> dict[str, int]:
    """Largest-remainder rounding: counts sum exactly to `total`."""
    raw = {k: total * v for k, v in mix.items()}
    out = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: raw[k] - out[k], reverse=True)[: total - sum(out.values())]:
        out[k] += 1
    return out


def _histogram(lengths: list[int]) -> dict:
    counts, _ = np.histogram(lengths, bins=HIST_EDGES + [10 ** 9])
    return {"edges": HIST_EDGES, "counts": [int(c) for c in counts]}


def _plan_rows(tokens_dir: Path, name: str) -> list[dict]:
    p = tokens_dir / f"{name}.json"
    return json.loads(p.read_text()) if p.is_file() else []


def _load(tokens_dir: Path) -> tuple[dict[str, list[_Utt]], list[dict]]:
    pools: dict[str, list[_Utt]] = {}
    evals: list[dict] = []
    for p in shard_paths(tokens_dir):
        for r in pq.read_table(p).to_pylist():
            if r["skip"] or r["codes"] is None:
                continue
            if r["split"] == "eval":
                evals.append(r)
                continue
            pools.setdefault(r["kind"], []).append(
                _Utt(r["id"], r["kind"], r["text"], r["answer"], list(r["codes"]), r["seconds"], r["voice"]))
    return pools, evals


class _Cycler:
    """Draws items in shuffled passes, so every item is used before any repeats."""

    def __init__(self, items: list, rng: random.Random):
        self.items, self.rng, self.order = list(items), rng, []

    def next(self):
        if not self.order:
            self.order = list(self.items)
            self.rng.shuffle(self.order)
        return self.order.pop()


def _row_tokens(r: StageRow, chars_per_token: float) -> int:
    if r.codes is not None:
        return row_tokens(len(r.codes), 1, 0, 0, chars_per_token)
    audio = [p for m in r.messages for p in m.parts if not isinstance(p, str)]
    chars = sum(len(p) for m in r.messages for p in m.parts if isinstance(p, str))
    return row_tokens(sum(len(p.codes) for p in audio), len(audio), chars, len(r.messages), chars_per_token)


def _write_stage(out: Path, name: str, rows: list[StageRow], seconds: float, profile: Profile,
                 description: str) -> StageSummary:
    shard_size = profile.data.shard_size
    d = out / name
    d.mkdir(parents=True, exist_ok=True)
    for old in d.glob("part-*.parquet"):
        old.unlink()
    for k in range(0, len(rows), shard_size):
        write_stage_shard(rows[k:k + shard_size], d / f"part-{k // shard_size:05d}.parquet")
    lengths = [len(r.codes) if r.codes is not None else
               sum(len(p.codes) for m in r.messages for p in m.parts if not isinstance(p, str))
               for r in rows]
    s = StageSummary(rows=len(rows), counts=dict(sorted(Counter(r.task for r in rows).items())),
                     audio_hours=round(seconds / 3600, 4), sound_tokens=int(sum(lengths)),
                     # relative: a stage dir's content must not name the work dir it was built in
                     # (the training steps key on it)
                     histogram=_histogram(lengths), card=dataset_card_path(d).name)
    cpt = CHARS_PER_TOKEN[profile.base_model.kind]
    s.plan = asdict(plan_from_lengths(profile, name, [_row_tokens(r, cpt) for r in rows]))
    write_json_atomic(d / "manifest.json", asdict(s))
    write_dataset_card(d, f"Ichigo {name}", {**asdict(s), "histograms": {name: s.histogram}}, description)
    return s


def _plot(stages: dict[str, StageSummary], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(stages), figsize=(4 * len(stages), 3), squeeze=False)
    labels = [f"{e}" for e in HIST_EDGES]
    for ax, (name, s) in zip(axes[0], stages.items()):
        ax.bar(range(len(labels)), s.histogram["counts"], color="#c0392b")
        ax.set_xticks(range(len(labels)), labels, rotation=60, fontsize=7)
        ax.set_title(f"{name}: {s.rows} rows")
        ax.set_xlabel("sound tokens per row (bin start)")
    axes[0][0].set_ylabel("rows")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def build_stage_datasets(profile: Profile, tokens_dir: str | Path, out_dir: str | Path,
                         teacher_transport=None) -> StagesManifest:
    d = profile.data
    tokens_dir, out = Path(tokens_dir), Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(d.seed)
    pools, evals = _load(tokens_dir)
    questions = pools.get("question", [])
    asr = pools.get("asr", [])
    noise = pools.get("noise", [])
    if not questions:
        raise InputError(f"{tokens_dir} has no tokenized training questions: rebuild the corpus")
    # without an asr source, stage 1 and transcription fall back to the spoken prompts (stated
    # in the manifest)
    speech = asr or questions
    spoken: dict[str, list[_Utt]] = {}
    for u in questions + pools.get("turn", []):
        spoken.setdefault(u.text, []).append(u)
    conversations = _plan_rows(tokens_dir, "conversations")
    text_pool = _plan_rows(tokens_dir, "text_rows")
    if not text_pool:  # a corpus without the plan files: text rows from the spoken prompts' texts
        text_pool = [{"id": u.id, "messages": [{"role": "user", "content": u.text},
                                               {"role": "assistant", "content": u.answer}]} for u in questions]
    # refusal-like answers belong to the inaudible rows only (the capped audible ones aside)
    text_pool = [r for r in text_pool if not any(
        is_refusal(m["content"]) for m in r["messages"] if m["role"] == "assistant")]
    if not text_pool and (d.stage2_mix["text"] or d.stage3_mix.get("text")):
        raise InputError("every text-only row has a refusal-like answer; check the instruct/text sources")

    # ---- stage 1: sound only, real speech
    s1_rows = [StageRow(f"s1-{u.language}-{u.id}", "sound_only", codes=u.codes) for u in speech]
    s1 = _write_stage(out, "stage1", s1_rows, sum(u.seconds for u in speech), profile,
                      "Stage 1 (continual pre-training): sound tokens only, next-token loss.")

    # ---- stage 2
    n2 = split_counts(d.stage2_samples, d.stage2_mix)
    # transcription rows: real ASR audio with its transcript (the paper's stage-2 ASR share)
    q_cycle, t_cycle, x_cycle = _Cycler(questions, rng), _Cycler(speech, rng), _Cycler(text_pool, rng)
    s2_rows, secs2, query_lengths = [], 0.0, []
    refusal_found = refusal_dropped = 0
    budget = int(d.max_refusal_fraction * (d.stage2_samples + d.stage3_samples))
    kept_refusals = 0

    def audible_ok(answer: str) -> bool:
        nonlocal refusal_found, refusal_dropped, kept_refusals
        if not is_refusal(answer):
            return True
        refusal_found += 1
        if kept_refusals < budget:
            kept_refusals += 1
            return True
        refusal_dropped += 1
        return False

    def draw_question() -> _Utt:
        for _ in range(len(questions) + 1):
            u = q_cycle.next()
            if audible_ok(u.answer):
                return u
        raise InputError("every training answer is refusal-like; check the data source")

    for i in range(n2["speech_qa"]):
        u = draw_question()
        s2_rows.append(StageRow(f"s2-qa-{i}", "speech_qa", messages=[
            user_audio(u.codes), Message("assistant", u.answer)]))
        secs2 += u.seconds
        query_lengths.append(len(u.codes))

    def text_row(row_id: str) -> StageRow:
        r = x_cycle.next()
        return StageRow(row_id, "text", messages=[Message(m["role"], m["content"]) for m in r["messages"]])

    p_cycle = _Cycler(questions, rng)

    def transcription(row_id: str) -> tuple[StageRow, _Utt]:
        # the spoken prompts' clips, in data.transcribe_spoken_prompts of the rows (with an asr source)
        from_prompts = asr and d.transcribe_spoken_prompts and rng.random() < d.transcribe_spoken_prompts
        u = p_cycle.next() if from_prompts else t_cycle.next()
        return StageRow(row_id, "transcription", messages=[
            user_audio(u.codes, rng.choice(TRANSCRIBE_PROMPTS)), Message("assistant", u.text)]), u

    for i in range(n2["transcription"]):
        row, u = transcription(f"s2-asr-{i}")
        s2_rows.append(row)
        secs2 += u.seconds
        query_lengths.append(len(u.codes))
    s2_rows += [text_row(f"s2-text-{i}") for i in range(n2["text"])]
    rng.shuffle(s2_rows)
    s2 = _write_stage(out, "stage2", s2_rows, secs2, profile,
                      "Stage 2 (instruction fine-tuning): spoken questions -> text answers, "
                      "transcription with natural-language prompts, and text-only QA.")

    # ---- stage 3
    refusals = get_refusals(d.teacher_endpoint, transport=teacher_transport)
    n3 = split_counts(d.stage3_samples, d.stage3_mix)
    src_counts = split_counts(n3["inaudible"], d.inaudible_sources)
    if not noise:
        src_counts["random"] += src_counts.pop("noise", 0)
    s3_rows, secs3 = [], 0.0

    def exchange() -> list[Message]:
        nonlocal secs3
        u = draw_question()
        secs3 += u.seconds
        return [user_audio(u.codes), Message("assistant", u.answer)]

    def spoken_conversation(conv: dict) -> list[Message] | None:
        """The conversation with each user turn replaced by its audio (None: a turn has none)."""
        nonlocal secs3, refusal_found, refusal_dropped, kept_refusals
        refusals = sum(is_refusal(m["content"]) for m in conv["messages"] if m["role"] == "assistant")
        if refusals:  # the same cap as for single answers: all of the conversation's or none
            refusal_found += refusals
            if kept_refusals + refusals > budget:
                refusal_dropped += refusals
                return None
            kept_refusals += refusals
        msgs = []
        for m in conv["messages"]:
            if m["role"] != "user":
                msgs.append(Message(m["role"], m["content"]))
                continue
            if not spoken.get(m["content"]):
                return None
            u = rng.choice(spoken[m["content"]])
            secs3 += u.seconds
            msgs.append(user_audio(u.codes))
        return msgs

    unspoken = 0
    for task, tag in (("two_turn", "2t"), ("four_turn", "4t")):
        convs = [c for c in conversations if c["task"] == task]
        if n3[task] and not convs:
            raise InputError(f"{tokens_dir} has no {task} conversations: the corpus plan found no "
                             "dialogue source rows for it")
        cyc = _Cycler(convs, rng)
        for i in range(n3[task]):
            for _ in range(len(convs) + 1):
                msgs = spoken_conversation(cyc.next())
                if msgs is not None:
                    break
                unspoken += 1
            else:
                raise InputError(f"no {task} conversation has audio for every user turn")
            s3_rows.append(StageRow(f"s3-{tag}-{i}", task, messages=msgs))
    noise_cycle, shuf_cycle = _Cycler(noise, rng), _Cycler(questions, rng)
    k = 0
    for source, n in src_counts.items():
        for _ in range(n):
            if source == "random":  # lengths follow the audible stage-2 query distribution
                codes = [rng.randrange(NUM_SOUND_TOKENS) for _ in range(rng.choice(query_lengths))]
            elif source == "noise":
                u = noise_cycle.next()
                codes, secs3 = u.codes, secs3 + u.seconds
            else:
                codes = list(shuf_cycle.next().codes)
                rng.shuffle(codes)
            prefix = exchange() if rng.random() < 0.5 else []
            s3_rows.append(StageRow(f"s3-inaud-{k}", "inaudible", messages=prefix + [
                user_audio(codes), Message("assistant", rng.choice(refusals.texts))]))
            k += 1
    for i in range(n3.get("transcription", 0)):  # replay, so stage 3 does not unlearn ASR
        row, u = transcription(f"s3-asr-{i}")
        s3_rows.append(row)
        secs3 += u.seconds
    # replay, so stage 3 does not unlearn text answers
    s3_rows += [text_row(f"s3-text-{i}") for i in range(n3.get("text", 0))]
    rng.shuffle(s3_rows)
    s3 = _write_stage(out, "stage3", s3_rows, secs3, profile,
                      "Stage 3 (enhancement): multi-turn spoken conversations and inaudible inputs "
                      f"(random/noise/shuffled codes) answered with refusals ({refusals.source}).")

    # ---- eval sets (held-out voices), audio kept for latency tests
    qa = [EvalItem(r["id"], "qa", r["text"], r["answer"], r["voice"], list(r["codes"]), r["audio_wav"],
                   family_of(r["voice"], profile.tts)) for r in evals if r["kind"] == "question"]
    nz = [EvalItem(r["id"], "noise", "", "", r["voice"], list(r["codes"]), r["audio_wav"])
          for r in evals if r["kind"] == "noise"]
    asr_test = [EvalItem(r["id"], "asr", r["text"], "", r["voice"], list(r["codes"]), r["audio_wav"],
                         family_of(r["voice"], profile.tts)) for r in evals if r["kind"] == "sentence"]
    leaked = sorted({it.text for it in asr_test} & {u.text for u in speech + questions + pools.get("turn", [])})
    if leaked:
        raise InputError(f"the ASR test split repeats a training transcript: {leaked[:3]}")
    write_eval_items(qa, out / "eval" / "qa.parquet")
    write_eval_items(nz, out / "eval" / "noise.parquet")
    if asr_test:
        write_eval_items(asr_test, out / "eval" / EVAL_ASR_FILE)

    stages = {"stage1": s1, "stage2": s2, "stage3": s3}
    print("Stage plan (before training):\n" + format_plan({k: StagePlan(**v.plan) for k, v in stages.items()}),
          flush=True)
    _plot(stages, out / "token_lengths.png")
    manifest = StagesManifest(
        out_dir=str(out), stages=stages, eval={"qa": len(qa), "noise": len(nz), "asr": len(asr_test)},
        refusal_source=refusals.source,
        refusal_like_audible={"found": refusal_found, "kept": refusal_found - refusal_dropped,
                              "dropped": refusal_dropped},
        inaudible_sources=src_counts, plot=str(out / "token_lengths.png"), seed=d.seed,
        extra={"stage2_query_lengths": {"mean": float(np.mean(query_lengths)),
                                        "max": int(max(query_lengths))},
               "stage1_from": "asr" if asr else "spoken prompts (no asr source)",
               "stage1_languages": dict(sorted(Counter(u.language for u in speech).items())),
               "conversations": {"distinct": len(conversations), "skipped_unspoken": unspoken},
               "plan": {k: v.plan for k, v in stages.items()}})
    write_json_atomic(out / "manifest.json", json.loads(json.dumps(asdict(manifest))))
    return manifest


def read_stages_manifest(out_dir: str | Path) -> dict:
    return json.loads((Path(out_dir) / "manifest.json").read_text())
