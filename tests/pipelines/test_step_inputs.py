"""Per-step inputs on a KFP backend: KFP caches a task on its input values (and its input
artifacts, which are the same ones when the producing task was a cache hit). The h100 pipeline is
compiled twice and every task's input parameters are resolved as the backend would (compiled
constants, then the pipeline parameters: the baked-in defaults a submitted run uses, or the run's
arguments), so the test shows which tasks a settings change would re-run."""

from __future__ import annotations

import json

import yaml

from ichigo.config import load_profile
from pipelines.compile import compile_pipeline
from pipelines.ichigo_pipeline import pipeline_arguments


def _spec(profile, path) -> dict:
    return next(yaml.safe_load_all(compile_pipeline(profile, path).read_text()))


def _as_sent(value):
    """A value as the KFP API carries it (a protobuf Value: every number a double)."""
    from google.protobuf import json_format, struct_pb2

    return json_format.MessageToDict(json_format.ParseDict(value, struct_pb2.Value()))


def task_inputs(spec: dict, arguments: dict | None = None) -> dict[str, dict]:
    """Every container task (path "sub-dag/task") -> its resolved input parameter values."""
    params = spec["root"]["inputDefinitions"]["parameters"]
    env = {k: p.get("defaultValue") for k, p in params.items()}
    env |= {k: _as_sent(v) for k, v in (arguments or {}).items()}
    out: dict[str, dict] = {}

    def walk(dag: dict, env: dict, prefix: str) -> None:
        for name, task in dag["tasks"].items():
            values = {}
            for key, ref in task.get("inputs", {}).get("parameters", {}).items():
                if "componentInputParameter" in ref:
                    values[key] = env[ref["componentInputParameter"]]
                elif "runtimeValue" in ref:
                    values[key] = ref["runtimeValue"]["constant"]
                else:  # another task's output: equal when that task was a cache hit
                    values[key] = ("output", json.dumps(ref, sort_keys=True))
            loop = task.get("parameterIterator")
            if loop:
                values[loop["itemInput"]] = ("item of", json.dumps(values[loop["items"]["inputParameter"]]))
            comp = spec["components"][task["componentRef"]["name"]]
            if "dag" in comp:
                walk(comp["dag"], values, f"{prefix}{name}/")
            else:
                out[prefix + name] = values

    walk(spec["root"]["dag"], env, "")
    return out


def upstream(spec: dict, task: str) -> set[str]:
    """The root-level tasks `task` depends on, transitively."""
    tasks = spec["root"]["dag"]["tasks"]
    seen, todo = set(), list(tasks[task].get("dependentTasks", []))
    while todo:
        t = todo.pop()
        if t not in seen:
            seen.add(t)
            todo += tasks[t].get("dependentTasks", [])
    return seen


def downstream(spec: dict, task: str) -> set[str]:
    return {t for t in spec["root"]["dag"]["tasks"] if task in upstream(spec, t)}


def _under(paths: set[str], roots: set[str]) -> set[str]:
    return {p for p in paths if p.split("/")[0] in roots}


def _changed(a: dict, b: dict) -> set[str]:
    assert a.keys() == b.keys()
    return {t for t in a if a[t] != b[t]}


def test_an_eval_threshold_leaves_every_task_up_to_the_evaluation_unchanged(tmp_path):
    base = load_profile("h100")
    strict = load_profile("h100", {"eval": {"max_wer": 0.05, "min_speech_qa_score": 4.5,
                                            "max_first_token_p95_ms": 150, "max_regression_vs_champion": 0.0}})
    a, b = _spec(base, tmp_path / "a.yaml"), _spec(strict, tmp_path / "b.yaml")
    before = upstream(a, "evaluate")
    assert {"prepare-model", "merge-speech-corpus", "build-datasets", "train-stage", "train-stage-2",
            "train-stage-3"} <= before and any(t.startswith("for-loop") for t in before)
    ia, ib = task_inputs(a), task_inputs(b)
    same = _under(set(ia), before | {"evaluate", "evaluate-text", "evaluate-text-2"})
    assert len(same) == 12  # every step up to and including the evaluation: all KFP cache hits
    assert all(ia[t] == ib[t] for t in same), sorted(t for t in same if ia[t] != ib[t])
    # the gate (never cached anyway) is the one task whose settings changed
    assert _changed(ia, ib) == {"gate"}


def test_stage3_lr_re_runs_stage3_and_what_follows_only(tmp_path):
    base = load_profile("h100")
    changed = load_profile("h100", {"training": {"stages": {"stage3": {"lr": 3e-5}}}})
    a, b = _spec(base, tmp_path / "a.yaml"), _spec(changed, tmp_path / "b.yaml")
    ia, ib = task_inputs(a), task_inputs(b)
    after = _under(set(ia), {"train-stage-3"} | downstream(a, "train-stage-3"))
    diff = _changed(ia, ib)
    # stage 3 itself, and the registration that records every stage's settings in the lineage
    assert diff == {"train-stage-3", "condition-branches-2/condition-3/register"}
    assert diff <= after
    # stages 1 and 2 and everything before them keep their inputs: KFP serves them from its cache
    assert {"train-stage", "train-stage-2", "build-datasets", "prepare-model"}.isdisjoint(after)
    # the same holds for a run of the checked-in package whose arguments carry the new settings
    assert _changed(ia, task_inputs(a, pipeline_arguments(changed))) == diff


def test_the_defaults_are_the_profiles_per_step_settings(tmp_path):
    profile = load_profile("h100")
    spec = _spec(profile, tmp_path / "h100.yaml")
    params = spec["root"]["inputDefinitions"]["parameters"]
    args = pipeline_arguments(profile)
    assert {k: params[k]["defaultValue"] for k in args} == args
    # no task receives the whole profile any more
    for inputs in task_inputs(spec).values():
        for v in inputs.values():
            assert not (isinstance(v, str) and '"serving"' in v)
