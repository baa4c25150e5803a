"""The cluster path: one Kubeflow Trainer v2 TrainJob (trainer.kubeflow.org/v1alpha1) per stage.

The TrainJob references the platform's ClusterTrainingRuntime (torchrun across numNodes x
numProcPerNode), runs the same recipe with the stage config passed in an environment variable,
and places the pods on H100 nodes through `runtimePatches` (node selector + tolerations). Model,
data and output live under s3:// prefixes; the recipe stages them and resumes from the newest
checkpoint there, so a re-created job after preemption continues where it stopped.

All API calls go through the official `kubernetes` client and stay within what
`ichigo.deploy.permissions` grants the `ichigo-pipeline` service account.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import yaml
from tqdm import tqdm

from ichigo.artifacts import STAGE_RESULT_FILE, stage_result_from_dict
from ichigo.config import ClusterConfig
from ichigo.deploy.permissions import require
from ichigo.errors import ConfigError
from ichigo.storage import is_s3
from ichigo.training.backends.follow import StepFollower, step_from_line
from ichigo.training.backends.job import StageJob, recipe_env
from ichigo.training.results import Progress, StageResult, TrainingFailed

GROUP, VERSION, PLURAL, KIND = "trainer.kubeflow.org", "v1alpha1", "trainjobs", "TrainJob"
SERVICE_ACCOUNT = "ichigo-pipeline"
PATCH_MANAGER = "ichigo.platform/launcher"
CONFIG_ENV = "ICHIGO_TRAIN_CONFIG"
JOBSET_LABEL = "jobset.sigs.k8s.io/jobset-name"
INDEX_LABEL = "batch.kubernetes.io/job-completion-index"


def trainjob_name(stage: str, output_uri: str) -> str:
    """Deterministic per (stage, output): re-running a stage finds its existing job."""
    return f"ichigo-{stage}-{hashlib.sha256(output_uri.encode()).hexdigest()[:10]}"


def training_image(cluster: ClusterConfig) -> str:
    return f"{cluster.image_registry.rstrip('/')}/training:{cluster.image_tag}"


def build_trainjob(job: StageJob, name: str | None = None, env: dict[str, str] | None = None) -> dict:
    """The TrainJob object for one stage (pure: no API calls)."""
    cfg = job.recipe
    for field_name in ("model_dir", "data_dir", "output_dir"):
        if not is_s3(getattr(cfg, field_name)):
            raise ConfigError(f"{cfg.stage}: {field_name} must be an s3:// URI for a TrainJob (pods do "
                              f"not see local paths), got {getattr(cfg, field_name)!r}")
    cl = job.cluster
    name = name or trainjob_name(cfg.stage, cfg.output_dir)
    gpus = job.procs_per_node if cfg.device == "cuda" else 0
    env_vars = {
        CONFIG_ENV: yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False),
        "ICHIGO_MODEL_URI": cfg.model_dir, "ICHIGO_DATA_URI": cfg.data_dir,
        "ICHIGO_OUTPUT_URI": cfg.output_dir, "ICHIGO_STAGE": cfg.stage,
        **(env or {}),
        **recipe_env(env or {}),
    }
    trainer: dict = {
        "image": training_image(cl),
        # the runtime's torch policy sets PET_NNODES / PET_NPROC_PER_NODE / PET_MASTER_* for torchrun
        "command": ["torchrun", "-m", "ichigo.training.recipe", "--config", f"env:{CONFIG_ENV}"],
        "numNodes": job.nodes,
        "numProcPerNode": job.procs_per_node,
        "env": [{"name": k, "value": str(v)} for k, v in env_vars.items()],
    }
    if gpus:
        trainer["resourcesPerNode"] = {"requests": {cl.gpu_resource: gpus}, "limits": {cl.gpu_resource: gpus}}
    pod_patch: dict = {}
    if cl.node_selector:
        pod_patch["nodeSelector"] = dict(cl.node_selector)
    if cl.tolerations:
        pod_patch["tolerations"] = [dict(t) for t in cl.tolerations]
    obj = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": {"name": name, "namespace": cl.namespace, "labels": {
            "app.kubernetes.io/name": "ichigo-training", "app.kubernetes.io/part-of": "ichigo",
            "ichigo.platform/stage": cfg.stage}},
        "spec": {
            "runtimeRef": {"apiGroup": GROUP, "kind": "ClusterTrainingRuntime", "name": cl.training_runtime},
            "trainer": trainer,
        },
    }
    if pod_patch:
        obj["spec"]["runtimePatches"] = [{"manager": PATCH_MANAGER, "trainingRuntimeSpec": {"template": {
            "spec": {"replicatedJobs": [{"name": "node", "template": {"spec": {"template": {
                "spec": pod_patch}}}}]}}}}]
    return obj


@dataclass
class JobState:
    phase: str  # Pending | Created | Running | ... | Complete | Failed
    reason: str = ""
    message: str = ""
    finished: bool = False
    failed: bool = False


def job_state(obj: dict) -> JobState:
    conds = {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}
    for kind in ("Failed", "Complete"):
        c = conds.get(kind)
        if c and c.get("status") == "True":
            return JobState(kind, c.get("reason", ""), c.get("message", ""), True, kind == "Failed")
    active = [c for c in conds.values() if c.get("status") == "True"]
    if active:
        c = max(active, key=lambda c: c.get("lastTransitionTime", ""))
        return JobState(c["type"], c.get("reason", ""), c.get("message", ""))
    return JobState("Pending")


@dataclass
class KubeBackend:
    """How to reach the cluster. Default: in-cluster config, else ~/.kube/config."""

    api_client: object | None = None
    poll_s: float = 15.0
    timeout_s: float = 7 * 24 * 3600.0
    log: Callable[[str], None] = field(default=lambda line: tqdm.write(line, file=sys.stderr))

    def client(self):
        if self.api_client is None:
            from kubernetes import client, config

            try:
                config.load_incluster_config()
            except config.ConfigException:
                config.load_kube_config()
            self.api_client = client.ApiClient()
        return self.api_client


class TrainJobRunner:
    def __init__(self, backend: KubeBackend, namespace: str):
        from kubernetes import client

        api = backend.client()
        self.backend, self.ns = backend, namespace
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)

    def create_or_get(self, obj: dict) -> dict:
        from kubernetes.client.exceptions import ApiException

        require(SERVICE_ACCOUNT, GROUP, PLURAL, ["create"])
        try:
            return self.custom.create_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, obj)
        except ApiException as e:
            if e.status != 409:
                raise TrainingFailed(f"creating TrainJob {obj['metadata']['name']} failed: "
                                     f"{e.status} {e.reason}: {e.body}") from None
            return self.get(obj["metadata"]["name"])  # already submitted: follow it

    def get(self, name: str) -> dict:
        require(SERVICE_ACCOUNT, GROUP, PLURAL, ["get"])
        return self.custom.get_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, name)

    def trainer_pod(self, name: str) -> dict | None:
        """The node-0 trainer pod (rank 0 prints the progress lines)."""
        require(SERVICE_ACCOUNT, "", "pods", ["list"])
        pods = self.core.list_namespaced_pod(self.ns, label_selector=f"{JOBSET_LABEL}={name}").items
        if not pods:
            return None
        pods.sort(key=lambda p: ((p.metadata.labels or {}).get(INDEX_LABEL, "9999"), p.metadata.name))
        return {"name": pods[0].metadata.name, "phase": pods[0].status.phase if pods[0].status else None}

    def stream_logs(self, pod: str, on_line: Callable[[str], None]) -> None:
        require(SERVICE_ACCOUNT, "", "pods/log", ["get"])
        resp = self.core.read_namespaced_pod_log(pod, self.ns, container="node", follow=True,
                                                 _preload_content=False)
        buf = b""
        for chunk in resp.stream(4096):
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for ln in lines:
                on_line(ln.decode(errors="replace"))
        if buf:
            on_line(buf.decode(errors="replace"))
        resp.release_conn()


def _fetch_result(output_uri: str) -> StageResult | None:
    from ichigo.storage import fetch

    try:
        with tempfile.TemporaryDirectory() as d:
            path = fetch(f"{output_uri.rstrip('/')}/{STAGE_RESULT_FILE}", d)
            return stage_result_from_dict(json.loads(path.read_text()), path.name)
    except Exception:  # noqa: BLE001 - absent or unreadable: not finished
        return None


def run(job: StageJob, env: dict | None = None, progress: Progress | None = None,
        *, backend: KubeBackend | None = None) -> StageResult:
    cfg = job.recipe
    obj = build_trainjob(job, env=env)
    done = _fetch_result(cfg.output_dir)
    if done is not None:  # idempotent: this stage's output is already complete
        return done
    backend = backend or KubeBackend()
    ns = job.cluster.namespace
    runner = TrainJobRunner(backend, ns)
    name = obj["metadata"]["name"]
    t0 = time.time()
    runner.create_or_get(obj)
    backend.log(f"TrainJob {ns}/{name} submitted ({cfg.stage}, {job.nodes}x{job.procs_per_node} procs)")
    follower = StepFollower(cfg.stage, cfg.steps, progress)
    tail: list[str] = []

    def on_line(line: str) -> None:
        tail.append(line)
        del tail[:-40]
        backend.log(f"[{name}] {line}")
        parsed = step_from_line(line)
        if parsed:
            step, total, row = parsed
            follower.update(step, row, total)

    log_thread: threading.Thread | None = None
    phase = ""
    try:
        while True:
            state = job_state(runner.get(name))
            if state.phase != phase:
                phase = state.phase
                backend.log(f"TrainJob {name}: {state.phase}" + (f" ({state.reason})" if state.reason else ""))
            if log_thread is None:
                pod = runner.trainer_pod(name)
                if pod and pod["phase"] in ("Running", "Succeeded", "Failed"):
                    log_thread = threading.Thread(target=runner.stream_logs, args=(pod["name"], on_line),
                                                  daemon=True)
                    log_thread.start()
            if state.finished:
                break
            if time.time() - t0 > backend.timeout_s:
                raise TrainingFailed(f"TrainJob {name} did not finish within {backend.timeout_s:.0f} s "
                                     f"(last state {state.phase})")
            time.sleep(backend.poll_s)
    finally:
        if log_thread is not None:
            log_thread.join(timeout=30)
        follower.close()
    if state.failed:
        raise TrainingFailed(f"TrainJob {name} failed: {state.reason}: {state.message}"
                             + ("\nlast log lines:\n" + "\n".join(tail[-20:]) if tail else ""))
    result = _fetch_result(cfg.output_dir)
    if result is None:
        raise TrainingFailed(f"TrainJob {name} completed but {cfg.output_dir}/{STAGE_RESULT_FILE} is missing")
    result.wall_seconds = time.time() - t0
    return result
