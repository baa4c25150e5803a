"""A deliberately broken manifest fails each layer, with a message that says what is wrong."""

import copy

import pytest
import yaml
from tests.conftest import need

from ichigo.deploy.crd_schema import validate_custom_resource
from ichigo.deploy.pod_security import check_pod_security
from ichigo.deploy.rbac_check import check_rbac
from ichigo.deploy.validate import CHART, helm_lint, validate_builtin

pytestmark = pytest.mark.slow


def _get(objs, kind, name):
    return next(o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name)


def test_schema_type_error_fails_kubernetes_validate(renders):
    objs = copy.deepcopy(renders["kustomize:gke-h100"])
    _get(objs, "Deployment", "mlflow")["spec"]["replicas"] = "two"
    _get(objs, "Service", "mlflow")["spec"]["ports"][0]["prot"] = "TCP"  # strict: unknown field
    for version in ("1.30", "1.37"):
        errs = validate_builtin(objs, version)
        assert any("Deployment/mlflow" in e and "spec.replicas" in e and "'two'" in e for e in errs), errs
        assert any("Service/mlflow" in e and "prot" in e for e in errs), errs


def test_bad_cr_field_fails_crd_schema(renders):
    rs = copy.deepcopy(_get(renders["helm:values.yaml"], "RayService", "ichigo"))
    rs["spec"]["rayClusterConfig"]["enableInTreeAutoscaling"] = "yes"
    rs["spec"]["rayClusterConfig"]["workerGroupSpecs"][0]["maxReplica"] = 3
    errs = validate_custom_resource(rs)
    assert any("enableInTreeAutoscaling" in e and "not of type 'boolean'" in e for e in errs), errs
    assert any("'maxReplica' was unexpected" in e for e in errs), errs


def test_missing_rbac_verb_fails_permissions_check(renders):
    objs = copy.deepcopy(renders["kustomize:dev"])
    role = _get(objs, "Role", "ichigo-follower")
    role["rules"][0]["verbs"].remove("patch")
    assert check_rbac(objs) == [
        "ServiceAccount ichigo-follower lacks ['patch'] on ray.io/rayservices (required by permissions.py)"]


def test_privileged_container_fails_checkov_and_pod_security(renders, tmp_path):
    from ichigo.deploy.checkov_env import ensure_checkov, run_checkov
    from ichigo.errors import ConfigError

    objs = copy.deepcopy(renders["kustomize:eks-h100"])
    c = _get(objs, "Deployment", "mlflow")["spec"]["template"]["spec"]["containers"][0]
    c["securityContext"].update(privileged=True, allowPrivilegeEscalation=True)
    rs = _get(objs, "RayService", "ichigo")  # inside a CR: checkov cannot see it, pod_security can
    rs["spec"]["rayClusterConfig"]["headGroupSpec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    errs = check_pod_security(objs)
    assert any("Deployment/mlflow" in e and "privileged" in e for e in errs), errs
    assert any("RayService/ichigo" in e and "ray-head: privileged" in e for e in errs), errs

    try:
        exe = ensure_checkov()
    except ConfigError as e:
        need(False, f"checkov unavailable: {e}")
    f = tmp_path / "broken.yaml"
    f.write_text(yaml.safe_dump_all(objs))
    failed = {(x.check_id, x.resource) for x in run_checkov(f, exe=exe).failures}
    assert ("CKV_K8S_16", "Deployment.ichigo.mlflow") in failed, failed  # privileged
    assert ("CKV_K8S_20", "Deployment.ichigo.mlflow") in failed, failed  # privilege escalation


def test_values_violating_schema_fail_helm_lint(tmp_path, render_text):
    bad = tmp_path / "values-bad.yaml"
    bad.write_text(yaml.safe_dump({"mlflow": {"replicas": "two"}, "profile": "h200",
                                   "serving": {"worker": {"gpus": 1}}}))
    ok, out = helm_lint(bad, CHART)
    assert not ok
    assert "values don't meet the specifications of the schema" in out, out
    for field in ("replicas", "profile", "gpus"):
        assert field in out, out
