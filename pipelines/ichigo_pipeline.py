"""The whole Ichigo recipe as one KFP pipeline; every arrow is an artifact.

prepare_model ──────────────────────────────────────────────────────────────────┐
ParallelFor(synthesize_speech share) → merge_speech_corpus
   → fit_speech_tokenizer → tokenize_speech → build_datasets
   → train stage1 → stage2 → stage3 → evaluate → gate ─If→ register (alias challenger)
          │           │                         ↑      └Else→ reject (says why)
          └→ evaluate_text stage1, stage2 ──────┘  (text benchmarks per stage: the retention curve)

Each step gets only the profile settings it reads: one pipeline parameter per view of
ichigo.config.steps (`<view>_settings`, baked in as defaults by `compile_pipeline`), so a KFP
backend re-runs a task only when its own settings or its input artifacts change: a new eval
threshold re-runs the gate alone, a new stage 3 learning rate stage 3 and what follows.
"""


from kfp import dsl

from components.build_datasets import build_datasets
from components.evaluate import evaluate, evaluate_text
from components.gate import gate
from components.prepare_model import prepare_model
from components.register import register, reject
from components.speech_tokenizer import fit_speech_tokenizer, tokenize_speech
from components.synthesize_speech import merge_speech_corpus, synthesize_speech
from components.train_stage import train_stage
from ichigo.config import Profile
from ichigo.config.recipe import STAGES
from ichigo.config.steps import VIEWS, step_view

PIPELINE_NAME = "ichigo-speech-llm"


def settings_parameter(view: str) -> str:
    return f"{view}_settings"


def pipeline_arguments(profile: Profile) -> dict:
    """Every pipeline parameter from the profile: each view's settings and the synthesis fan-out.
    `compile_pipeline` bakes these in as defaults; `run_local` passes them."""
    from ichigo.data.corpus_plan import synthesis_fanout

    return {**{settings_parameter(v): step_view(profile, v) for v in VIEWS}, **synthesis_fanout(profile)}


def _cluster_settings(task: dsl.PipelineTask, gpu: bool = False, cache: bool = True) -> dsl.PipelineTask:
    """Kubernetes-only settings (kfp.local ignores them): S3 + MLflow credentials from Secrets."""
    from kfp import kubernetes

    # the same Secret the platform manifests use (docs/deploy.md, "Secrets to create first")
    kubernetes.use_secret_as_env(task, secret_name="ichigo-s3", secret_key_to_env={
        "access_key_id": "AWS_ACCESS_KEY_ID", "secret_access_key": "AWS_SECRET_ACCESS_KEY"})
    kubernetes.use_secret_as_env(task, secret_name="ichigo-s3", optional=True,  # absent on AWS S3
                                 secret_key_to_env={"endpoint_url": "AWS_ENDPOINT_URL"})
    # MLflow identity "pipeline" (basic-auth on the cluster): runs, versions, the challenger alias
    kubernetes.use_secret_as_env(task, secret_name="ichigo-mlflow-pipeline", secret_key_to_env={
        "username": "MLFLOW_TRACKING_USERNAME", "password": "MLFLOW_TRACKING_PASSWORD"})
    task.set_caching_options(cache)
    return task


def _judge_secret(task: dsl.PipelineTask) -> dsl.PipelineTask:
    """The LLM judge's API key (eval.judge.api_key_env), from an optional Secret: a judge inside
    the cluster may need none, and the key never goes into the profile."""
    from kfp import kubernetes

    kubernetes.use_secret_as_env(task, secret_name="ichigo-judge", optional=True,
                                 secret_key_to_env={"api_key": "ICHIGO_JUDGE_API_KEY"})
    return task


def build_pipeline(synthesis_gpus: int = 0):
    """The pipeline; `synthesis_gpus` GPUs per synthesis share (compile_pipeline takes it from the
    profile: kfp.local cannot resolve a pipeline parameter in a resource limit)."""

    @dsl.pipeline(name=PIPELINE_NAME,
                  description="Ichigo early-fusion speech LLM: data synthesis, 3-stage training, "
                              "evaluation gate, MLflow registration")
    def ichigo_pipeline(prepare_model_settings: str, speech_corpus_settings: str, speech_tokenizer_settings: str,
                        stage_datasets_settings: str, train_stage1_settings: str, train_stage2_settings: str,
                        train_stage3_settings: str, evaluate_text_settings: str, evaluate_settings: str,
                        gate_settings: str, register_settings: str, cache_dir: str = "", run_label: str = "",
                        synthesis_shares: list = [0, 1]) -> str:  # noqa: B006 (KFP default)
        """`*_settings`: step_view(profile, view) for each view; `synthesis_shares` =
        range(data.synthesis_shards) (ichigo.data.corpus_plan.synthesis_fanout). Both are set from
        the profile by `pipeline_arguments`."""
        train_settings = {"stage1": train_stage1_settings, "stage2": train_stage2_settings,
                          "stage3": train_stage3_settings}
        prep = prepare_model(settings=prepare_model_settings, cache_dir=cache_dir).set_display_name(
            "prepare base model + sound tokens")
        # Scale-out synthesis as a KFP ParallelFor over shares rather than a RayJob: each share is an
        # independent, cached, resumable step with its own GPU, retried and shown per task in the KFP
        # UI, and the fan-out runs unchanged under kfp.local (2 shares) -- no Ray cluster to manage
        # for a batch job whose tasks never talk to each other.
        with dsl.ParallelFor(items=synthesis_shares, name="synthesis-shares") as shard:
            share = synthesize_speech(settings=speech_corpus_settings, cache_dir=cache_dir,
                                      shard=shard).set_display_name("synthesize speech (TTS share)")
            if synthesis_gpus:  # one GPU per share on the cluster (a resource limit must be static)
                share.set_accelerator_type("nvidia.com/gpu").set_accelerator_limit(synthesis_gpus)
            _cluster_settings(share)
        corpus = merge_speech_corpus(settings=speech_corpus_settings, cache_dir=cache_dir,
                                     parts=dsl.Collected(share.outputs["corpus"])).set_display_name("speech corpus")
        tok = fit_speech_tokenizer(settings=speech_tokenizer_settings, cache_dir=cache_dir,
                                   corpus=corpus.outputs["corpus"]).set_display_name("speech tokenizer")
        codes = tokenize_speech(settings=speech_tokenizer_settings, cache_dir=cache_dir, corpus=corpus.outputs["corpus"],
                                tokenizer=tok.outputs["tokenizer"]).set_display_name("tokenize speech")
        data = build_datasets(settings=stage_datasets_settings, cache_dir=cache_dir,
                              tokens=codes.outputs["tokens"]).set_display_name("stage datasets")
        model = prep.outputs["model"]
        trained, text_evals = [], []
        for stage in STAGES:
            t = train_stage(settings=train_settings[stage], cache_dir=cache_dir, stage=stage, model=model,
                            stages=data.outputs["stages"]).set_display_name(f"train {stage}")
            trained.append(t)
            model = t.outputs["trained"]
            if stage != "stage3":  # stage 3 is the candidate: `evaluate` scores it (and the base)
                text_evals.append(evaluate_text(settings=evaluate_text_settings, cache_dir=cache_dir, stage=stage,
                                                model=model).set_display_name(f"text benchmarks after {stage}"))
        ev = evaluate(settings=evaluate_settings, cache_dir=cache_dir, candidate=model,
                      prepared=prep.outputs["model"], stages=data.outputs["stages"],
                      tokenizer=tok.outputs["tokenizer"]).set_display_name("evaluate")
        g = gate(settings=gate_settings, evaluation=ev.outputs["evaluation"],
                 stage1=trained[0].outputs["trained"], stage2=trained[1].outputs["trained"],
                 stage3=trained[2].outputs["trained"], text_stage1=text_evals[0].outputs["text_eval"],
                 text_stage2=text_evals[1].outputs["text_eval"]).set_display_name("gate")
        for task in (prep, corpus, tok, codes, data, *trained, *text_evals, ev):
            _cluster_settings(task)
        # never cached: the gate reads the current champion (a cached pass could outlive it) and
        # register must talk to the registry every run
        _cluster_settings(g, cache=False)
        _judge_secret(ev)
        with dsl.If(g.outputs["Output"] == True, name="gate-passed"):  # noqa: E712 (KFP condition)
            reg = register(settings=register_settings, run_label=run_label, candidate=model,
                           tokenizer=tok.outputs["tokenizer"], stages=data.outputs["stages"],
                           evaluation=ev.outputs["evaluation"],
                           decision=g.outputs["decision"]).set_display_name("register in MLflow")
            _cluster_settings(reg, cache=False)
        with dsl.Else(name="gate-failed"):
            rej = reject(evaluation=ev.outputs["evaluation"], decision=g.outputs["decision"]).set_display_name("rejected")
            rej.set_caching_options(False)
        return dsl.OneOf(reg.output, rej.output)

    return ichigo_pipeline


ichigo_pipeline = build_pipeline()
