"""The checked-in compiled pipelines are current, and they parse as KFP IR (pipeline-spec protos)."""

import yaml
from google.protobuf import json_format

from pipelines.compile import COMPILED_PROFILES, compile_pipeline, compiled_path
from ichigo.config import load_profile


def test_checked_in_yaml_is_not_stale(tmp_path):
    for name in COMPILED_PROFILES:
        fresh = compile_pipeline(load_profile(name), tmp_path / f"{name}.yaml").read_text()
        assert compiled_path(name).read_text() == fresh, (
            f"{compiled_path(name)} is stale: run `ichigo compile` and commit the result")


def test_compiled_yaml_parses_with_the_pipeline_spec_protos():
    from kfp.kubernetes import kubernetes_executor_config_pb2 as k8s_pb2
    from kfp.pipeline_spec import pipeline_spec_pb2

    docs = list(yaml.safe_load_all(compiled_path("h100").read_text()))
    spec = json_format.ParseDict(docs[0], pipeline_spec_pb2.PipelineSpec())
    tasks = spec.root.dag.tasks
    assert {"train-stage", "train-stage-2", "train-stage-3", "evaluate", "gate", "evaluate-text",
            "evaluate-text-2"} <= set(tasks)
    # the retention curve: stages 1 and 2 get their own text evaluation, and the gate reads both
    assert {tasks["gate"].inputs.artifacts[k].task_output_artifact.producer_task
            for k in ("text_stage1", "text_stage2")} == {"evaluate-text", "evaluate-text-2"}
    branches = next(n for n in tasks if n.startswith("condition-branches"))
    assert any(t.trigger_policy.condition for t in
               [*spec.components[tasks[branches].component_ref.name].dag.tasks.values()])
    # speech synthesis fans out over shares (ParallelFor), one GPU each under the h100 profile
    loop = next(t for n, t in tasks.items() if n.startswith("for-loop"))
    assert loop.WhichOneof("iterator") == "parameter_iterator" and "merge-speech-corpus" in tasks
    params = spec.root.input_definitions.parameters
    share = spec.deployment_spec["executors"]["exec-synthesize-speech"]["container"]["resources"]
    assert share["accelerator"]["resourceCount"] == "1"
    assert len(params["synthesis_shares"].default_value.list_value.values) == load_profile("h100").data.synthesis_shards
    platform = json_format.ParseDict(docs[1], pipeline_spec_pb2.PlatformSpec())
    executors = json_format.MessageToDict(platform.platforms["kubernetes"].deployment_spec)["executors"]
    assert len(executors) >= 9
    for executor, cfg in executors.items():
        k8s = json_format.ParseDict(cfg, k8s_pb2.KubernetesExecutorConfig())
        assert k8s.secret_as_env, f"{executor} lacks the S3 credentials secret"
    # the h100 profile's per-step settings are baked in as defaults, so a submitted run needs no
    # arguments (tests/pipelines/test_step_inputs.py: which task gets which)
    from pipelines.ichigo_pipeline import pipeline_arguments

    for name, value in pipeline_arguments(load_profile("h100")).items():
        if isinstance(value, str):
            assert params[name].default_value.string_value == value, name
