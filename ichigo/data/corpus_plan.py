"""What the speech corpus holds, decided up front and deterministically from the profile.

The plan (one `Utterance` per row, stable ids) is what makes the build resumable: shard k always
holds the same utterances, so a restarted job only has to produce the shards that are missing.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass

from ichigo.config import Profile
from ichigo.data.noise import NOISE_KINDS
from ichigo.data.world import all_facts


@dataclass(frozen=True)
class Utterance:
    id: str
    split: str  # "train" | "eval"
    kind: str  # "question" | "stage1" | "noise" | "source_audio"
    text: str  # what is spoken ("" for noise; for noise: the noise kind lives in `voice`)
    answer: str
    voice: str  # TTS voice spec, "noise:<kind>:<seconds>", or "source"
    audio: bytes = b""  # only for source rows that come with audio


def _voices(names: list[str], profile: Profile, rng: random.Random) -> str:
    name = rng.choice(names)
    if profile.tts.backend == "whisperspeech" or name.count(":") > name.startswith("piper:"):
        return name  # whisperspeech, or a voice that already fixes its speed/pitch
    if name.startswith("piper:"):  # Piper has speed (percent of its natural rate) but no pitch
        return f"{name}:s{rng.choice(profile.tts.piper_speeds)}"
    return f"{name}:s{rng.choice(profile.tts.speeds)}:p{rng.choice(profile.tts.pitches)}"


def noise_counts(profile: Profile) -> tuple[int, int]:
    d = profile.data
    return max(16, d.num_train_questions // 40), max(8, d.num_eval_questions // 4)


def plan_corpus(profile: Profile, source_rows: list | None = None) -> tuple[list[Utterance], dict]:
    """All utterances in build order, plus counts of source rows skipped (with reasons)."""
    d, tts = profile.data, profile.tts
    default = {"whisperspeech": ["default"], "piper": ["piper:joe"]}.get(tts.backend, ["en-us"])
    train_voices = tts.train_voices or default
    heldout = tts.heldout_voices or train_voices
    rng = random.Random(d.seed)
    facts = all_facts()
    out: list[Utterance] = []

    def cycle(n: int):
        order: list = []
        while len(order) < n:
            batch = list(facts)
            rng.shuffle(batch)
            order += batch
        return order[:n]

    for i, f in enumerate(cycle(d.num_train_questions)):
        out.append(Utterance(f"q-{i:07d}", "train", "question", f.train_question(rng),
                             f.answer, _voices(train_voices, profile, rng)))
    for i, f in enumerate(cycle(d.stage1_utterances)):
        text = f.statement() if rng.random() < 0.5 else f.train_question(rng)
        out.append(Utterance(f"s1-{i:07d}", "train", "stage1", text, "",
                             _voices(train_voices, profile, rng)))
    for i, f in enumerate(cycle(d.num_eval_questions)):
        # the held-out phrasing: no eval question text is ever a training text
        out.append(Utterance(f"eval-{i:06d}", "eval", "question", f.eval_question(),
                             f.answer, _voices(heldout, profile, rng)))
    n_train_noise, n_eval_noise = noise_counts(profile)
    for split, n in (("train", n_train_noise), ("eval", n_eval_noise)):
        for i in range(n):
            kind = NOISE_KINDS[i % len(NOISE_KINDS)]
            out.append(Utterance(f"noise-{split}-{i:05d}", split, "noise", "", "",
                                 f"noise:{kind}:{rng.uniform(1.0, 5.0):.2f}"))
    skipped: dict[str, int] = {}
    for i, r in enumerate(source_rows or []):
        text = (r.text or "").strip()
        if r.audio:
            out.append(Utterance(f"src-{i:07d}", "train", "source_audio", text, r.answer or "",
                                 "source", r.audio))
        elif not text:
            skipped["empty_text"] = skipped.get("empty_text", 0) + 1
        elif r.answer:
            out.append(Utterance(f"src-{i:07d}", "train", "question", text, r.answer,
                                 _voices(train_voices, profile, rng)))
        else:
            out.append(Utterance(f"src-{i:07d}", "train", "stage1", text, "",
                                 _voices(train_voices, profile, rng)))
    return out, skipped


def fingerprint(plan: list[Utterance], extra: dict) -> str:
    h = hashlib.sha256(json.dumps(extra, sort_keys=True).encode())
    for u in plan:
        h.update(json.dumps({k: v for k, v in asdict(u).items() if k != "audio"}).encode())
        h.update(hashlib.sha256(u.audio).digest())
    return h.hexdigest()[:16]
