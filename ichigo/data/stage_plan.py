"""What each training stage will do with its data: samples, tokens, packs, optimizer steps and
passes over the data (epochs), before any training starts.

The paper's Table 1 counts `global_batch` in samples (stage 2: 7400 steps x 256 = 1.89M samples,
one pass). With packing, one batch slot is a whole `max_seq_len` pack holding several samples, so
copying the step count would be many passes. A stage with `budget: samples` keeps the paper's
meaning: its sample budget (steps x global_batch) becomes ceil(budget / samples per step) packed
steps, with samples per step = global_batch x samples per pack. A stage with `budget: steps`
(the CPU profiles, tuned in optimizer steps) keeps its steps and the plan states the epochs.

Row lengths are measured on the built stage datasets (sound tokens exact, text estimated from
characters); `ichigo plan-data` on a profile alone estimates them from typical lengths.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

from ichigo.config import Profile
from ichigo.config.recipe import DataSection, RecipeConfig
from ichigo.errors import ConfigError

# by base_model.kind: the embedded byte BPE (2k) vs a pretrained model's (SmolLM2 49k, Llama-3 128k)
CHARS_PER_TOKEN = {"embedded": 3.0, "hf_checkpoint": 4.0, "gguf": 4.0}
TEMPLATE_TOKENS = 5  # header + end-of-turn tokens per chat message
# typical (ASR seconds, spoken prompt seconds, answer tokens) for a profile-only plan, replaced
# by measurements once the stage datasets exist: MLS utterances ~15 s, instructions ~5 s, answers
# ~120 tokens; the embedded world's espeak sentences ~2.5 s with one-word answers. Keyed by the
# data (declared sources or the embedded world), whatever the base model
TYPICAL = {"sources": (15.0, 5.0, 120), "world": (2.5, 2.0, 3)}
SOUND_TOKENS_PER_S = 25


def typical_row_tokens(profile: Profile, stage: str) -> int:
    asr_s, prompt_s, answer = TYPICAL["sources" if profile.data.sources else "world"]
    exchange = int(prompt_s * SOUND_TOKENS_PER_S) + 2 + answer + 2 * TEMPLATE_TOKENS
    return {"stage1": int(asr_s * SOUND_TOKENS_PER_S) + 2, "stage2": exchange,
            "stage3": 2 * exchange}[stage]
# h100 synthesis cost model (per GPU): WhisperSpeech ~ 0.05 GPU-s per second of speech on an H100,
# WhisperVQ tokenization ~ 0.002 GPU-s per second of audio; spoken prompts ~5 s, MLS ~15 s
TTS_GPU_S_PER_AUDIO_S, VQ_GPU_S_PER_AUDIO_S = 0.05, 0.002
SPOKEN_PROMPT_S, ASR_UTTERANCE_S = 5.0, 15.0


@dataclass
class StagePlan:
    stage: str
    samples: int  # rows in the stage dataset
    tokens: int  # estimated training tokens over all rows (one pass)
    packs: int  # max_seq_len packs over one pass (= samples without packing)
    budget: str  # "samples" | "steps"
    steps: int  # optimizer steps the trainer will run
    samples_per_step: float
    epochs: float  # passes over the stage data
    lengths: str  # "measured" | "estimated"


def row_tokens(sound_tokens: int, audio_segments: int, text_chars: int, messages: int,
               chars_per_token: float) -> int:
    return int(sound_tokens + 2 * audio_segments + math.ceil(text_chars / chars_per_token)
               + TEMPLATE_TOKENS * messages)


def count_packs(lengths: list[int], max_seq_len: int) -> int:
    """Next-fit packing in row order, as the trainer packs (rows longer than a pack are cut)."""
    packs, used = 0, max_seq_len + 1
    for n in lengths:
        n = min(n, max_seq_len)
        if used + n > max_seq_len:
            packs, used = packs + 1, 0
        used += n
    return packs


@dataclass(frozen=True)
class StageBudget:
    """A stage's resolved settings that the plan needs (the profile's partial over the recipe's
    defaults), and how its step budget counts."""

    steps: int
    global_batch: int
    pack: bool
    max_seq_len: int
    warmup_steps: int
    budget: str  # "steps" | "samples"


def stage_budget(profile: Profile, stage: str) -> StageBudget:
    """Reads only the stage's PLAN_FIELDS and the world size (the stage datasets step gets no
    more: ichigo.config.steps). steps, per_device_batch, max_seq_len and warmup_steps have no
    recipe default, so a loaded profile sets them; the recipe's defaults fill the others."""
    t = profile.training
    st = t.stages[stage]
    grad_accum = st.grad_accum if st.grad_accum is not None else RecipeConfig.model_fields["grad_accum"].default
    pack = st.pack if st.pack is not None else DataSection.model_fields["pack"].default
    return StageBudget(st.steps, st.global_batch or st.per_device_batch * grad_accum * t.world_size,
                       pack, st.max_seq_len, st.warmup_steps, st.budget or "steps")


def plan_stage(stage: str, cfg: StageBudget, samples: int, tokens: int, packs: int,
               lengths: str) -> StagePlan:
    units = packs if cfg.pack else samples
    per_unit = samples / max(1, units)
    samples_per_step = cfg.global_batch * per_unit
    if cfg.budget == "samples":
        steps = max(1, math.ceil(cfg.steps * cfg.global_batch / samples_per_step))
    else:
        steps = cfg.steps
    epochs = steps * samples_per_step / max(1, samples)
    return StagePlan(stage, samples, tokens, units, cfg.budget, steps, round(samples_per_step, 2),
                     round(epochs, 3), lengths)


def plan_from_lengths(profile: Profile, stage: str, lengths: list[int]) -> StagePlan:
    cfg = stage_budget(profile, stage)
    packs = count_packs(lengths, cfg.max_seq_len) if cfg.pack else len(lengths)
    return plan_stage(stage, cfg, len(lengths), int(sum(lengths)), packs, "measured")


def stage_samples(profile: Profile) -> dict[str, int]:
    d = profile.data
    return {"stage1": d.stage1_utterances, "stage2": d.stage2_samples, "stage3": d.stage3_samples}


def estimated_plan(profile: Profile) -> dict[str, StagePlan]:
    out = {}
    for stage, n in stage_samples(profile).items():
        cfg = stage_budget(profile, stage)
        per = typical_row_tokens(profile, stage)
        per_pack = max(1, cfg.max_seq_len // min(per, cfg.max_seq_len))
        out[stage] = plan_stage(stage, cfg, n, n * per, math.ceil(n / per_pack), "estimated")
    return out


def synthesis_gpu_hours(profile: Profile) -> dict[str, float]:
    """GPU-hours to speak every planned prompt and tokenize all speech (cost model above)."""
    d = profile.data
    spoken_s = (d.num_train_questions + d.num_eval_questions) * SPOKEN_PROMPT_S
    asr_s = d.stage1_utterances * ASR_UTTERANCE_S
    tts = spoken_s * TTS_GPU_S_PER_AUDIO_S / 3600
    vq = (spoken_s + asr_s) * VQ_GPU_S_PER_AUDIO_S / 3600
    return {"tts": round(tts, 1), "tokenize": round(vq, 1), "total": round(tts + vq, 1)}


def format_plan(plans: dict[str, StagePlan]) -> str:
    head = f"{'stage':<7} {'samples':>10} {'tokens':>13} {'packs':>9} {'budget':>7} {'steps':>7} " \
           f"{'samples/step':>12} {'epochs':>7}  lengths"
    lines = [head, "-" * len(head)]
    for p in plans.values():
        lines.append(f"{p.stage:<7} {p.samples:>10,} {p.tokens:>13,} {p.packs:>9,} {p.budget:>7} "
                     f"{p.steps:>7,} {p.samples_per_step:>12,.1f} {p.epochs:>7.2f}  {p.lengths}")
    return "\n".join(lines)


def plan_dict(plans: dict[str, StagePlan]) -> dict:
    return {k: asdict(v) for k, v in plans.items()}


def apply_plan(profile: Profile, stage: str, stage_dir: str | Path) -> Profile:
    """The profile the trainer runs for `stage`: a `budget: samples` stage gets the planned packed
    steps (from the stage dataset's manifest) and a warm-up scaled by the same ratio."""
    st, b = profile.training.stages[stage], stage_budget(profile, stage)
    if b.budget != "samples":
        return profile
    manifest = Path(stage_dir) / "manifest.json"
    try:
        steps = int(json.loads(manifest.read_text())["plan"]["steps"])
    except (OSError, ValueError, KeyError, TypeError):
        raise ConfigError(f"training.stages.{stage} has budget 'samples' but {manifest} holds no "
                          "stage plan; rebuild the stage datasets") from None
    warmup = min(steps - 1, round(b.warmup_steps * steps / b.steps))
    new = st.model_copy(update={"steps": steps, "warmup_steps": warmup, "budget": "steps"})
    training = profile.training.model_copy(update={"stages": {**profile.training.stages, stage: new}})
    return profile.model_copy(update={"training": training})
