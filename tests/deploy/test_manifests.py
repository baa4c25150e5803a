"""Every overlay and values file: helm lint, kubernetes-validate (1.30 + newest), CRD schemas,
RBAC, pod security; plus the structure the platform relies on."""

import pytest
import yaml

from ichigo.config import load_profile
from ichigo.deploy.serve_config import build_serve_config, max_resource_demand
from ichigo.deploy.validate import K8S_VERSIONS, VALUES_FILES, helm_lint, validate_objects

pytestmark = pytest.mark.slow
IMAGES = {f"ghcr.io/ichigo-platform/{n}:0.1.0" for n in ("components", "training", "serving")}


def _get(objs, kind, name):
    return next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name)


def test_helm_lint_strict_every_values_file(shared_dir, render_text):
    for v in VALUES_FILES:
        ok, out = helm_lint(v)
        assert ok, out


def test_all_renders_validate(renders):
    assert K8S_VERSIONS[0] == "1.30" and K8S_VERSIONS[1] >= "1.37"
    kinds = set()
    for source, objs in renders.items():
        report = validate_objects(source, objs)
        assert report.errors == [], f"{source}:\n" + "\n".join(report.errors)
        kinds |= {o["kind"] for o in objs}
    assert {"RayService", "ClusterTrainingRuntime", "NetworkPolicy", "PodDisruptionBudget", "Role"} <= kinds


def _images(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "image" and isinstance(v, str):
                yield v
            else:
                yield from _images(v)
    elif isinstance(node, list):
        for v in node:
            yield from _images(v)


def test_images_come_from_one_place(renders):
    for source, objs in renders.items():
        images = {i for o in objs for i in _images(o) if "curl" not in i}
        assert images == IMAGES, source


def test_kustomize_and_helm_describe_the_same_platform(renders):
    for cloud in ("gke-h100", "eks-h100", "aks-h100"):
        k = {(o["kind"], o["metadata"]["name"]) for o in renders[f"kustomize:{cloud}"]}
        h = {(o["kind"], o["metadata"]["name"]) for o in renders[f"helm:values-{cloud}.yaml"]}
        # helm additionally ships its test pod and that pod's NetworkPolicy
        assert h - k == {("Pod", "ichigo-test-health"), ("NetworkPolicy", "ichigo-test")}
        assert k - h == {("Namespace", "ichigo")}
        ks = _get(renders[f"kustomize:{cloud}"], "RayService", "ichigo")["spec"]
        hs = _get(renders[f"helm:values-{cloud}.yaml"], "RayService", "ichigo")["spec"]
        kw, hw = ks["rayClusterConfig"]["workerGroupSpecs"][0], hs["rayClusterConfig"]["workerGroupSpecs"][0]
        assert kw["template"]["spec"]["nodeSelector"] == hw["template"]["spec"]["nodeSelector"]
        assert kw["template"]["spec"]["tolerations"] == hw["template"]["spec"]["tolerations"]
        assert yaml.safe_load(ks["serveConfigV2"]) == yaml.safe_load(hs["serveConfigV2"])


@pytest.mark.parametrize("cloud,label", [("gke-h100", "cloud.google.com/gke-accelerator"),
                                         ("eks-h100", "node.kubernetes.io/instance-type"),
                                         ("aks-h100", "node.kubernetes.io/instance-type")])
def test_gpu_placement_per_cloud(renders, cloud, label):
    for source in (f"kustomize:{cloud}", f"helm:values-{cloud}.yaml"):
        objs = renders[source]
        worker = _get(objs, "RayService", "ichigo")["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]
        train = _get(objs, "ClusterTrainingRuntime", "ichigo-torch-distributed")
        train_pod = train["spec"]["template"]["spec"]["replicatedJobs"][0]["template"]["spec"]["template"]["spec"]
        for pod in (worker["template"]["spec"], train_pod):
            assert label in pod["nodeSelector"], source
            assert any(t["effect"] == "NoSchedule" for t in pod["tolerations"]), source
        assert train_pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 8


def _memory_bytes(q: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    return float(q[:-2]) * units[q[-2:]] if q[-2:] in units else float(q)


@pytest.mark.parametrize("source,profile", [("kustomize:gke-h100", "h100"), ("helm:values.yaml", "h100"),
                                            ("kustomize:dev", "local"), ("helm:values-dev.yaml", "local")])
def test_worker_group_can_hold_the_serve_config_at_max_scale(renders, source, profile):
    rs = _get(renders[source], "RayService", "ichigo")["spec"]
    assert rs["rayClusterConfig"]["enableInTreeAutoscaling"] is True
    cfg = yaml.safe_load(rs["serveConfigV2"])
    assert cfg == build_serve_config(load_profile(profile))
    demand = max_resource_demand(cfg)
    w = rs["rayClusterConfig"]["workerGroupSpecs"][0]
    limits = w["template"]["spec"]["containers"][0]["resources"]["limits"]
    n = w["maxReplicas"]
    assert n * float(limits["cpu"]) >= demand["num_cpus"], source
    assert n * float(limits.get("nvidia.com/gpu", 0)) >= demand["num_gpus"], source
    # Ray offers ~70% of a pod's memory to actors (the rest is object store)
    assert n * 0.7 * _memory_bytes(limits["memory"]) >= demand["memory"], source


def test_ray_pods_set_the_serve_data_plane_env(renders):
    """The cluster's Ray processes get the same Ray Serve settings as a local `ichigo serve`."""
    from serving.local import SERVE_ENV

    for source, objs in renders.items():
        spec = _get(objs, "RayService", "ichigo")["spec"]["rayClusterConfig"]
        for group in [spec["headGroupSpec"], *spec["workerGroupSpecs"]]:
            for c in group["template"]["spec"]["containers"]:
                env = {e["name"]: e.get("value") for e in c.get("env", [])}
                assert {k: env.get(k) for k in SERVE_ENV} == SERVE_ENV, (source, c["name"])


def test_ray_pods_reach_each_other_on_ray_serve_ports(renders):
    """HAProxy forwards to ingress replicas on the direct-ingress range, the deployments call each
    other on ephemeral gRPC ports, and HAProxy falls back to the head's proxy on 8500/9500: the
    serve pods' NetworkPolicy must let all of them through, both ways."""
    def covers(rules, port):
        return any(r.get("port") == port or r.get("port", 0) <= port <= r.get("endPort", -1)
                   for r in rules)

    for source, objs in renders.items():
        spec = _get(objs, "NetworkPolicy", "ichigo-serve")["spec"]
        peer = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "ichigo-serve"}}}
        ins = [r["ports"] for r in spec["ingress"] if r.get("from") == [peer]]
        outs = [r["ports"] for r in spec["egress"] if r.get("to") == [peer]]
        for port in (30000, 31000, 32768, 45000, 60999, 8500, 9500, 10002):
            assert any(covers(rules, port) for rules in ins), (source, "ingress", port)
            assert any(covers(rules, port) for rules in outs), (source, "egress", port)


def test_follower_runs_ichigo_follow(renders):
    for source, objs in renders.items():
        c = _get(objs, "Deployment", "ichigo-follower")["spec"]["template"]["spec"]["containers"][0]
        profile = "local" if "dev" in source else "h100"
        assert c["command"] == ["ichigo", "follow", "--profile", profile], source
