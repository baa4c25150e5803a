import copy

import pytest

from ichigo.deploy.permissions import PERMISSIONS, allowed, require
from ichigo.deploy.rbac_check import check_rbac


def test_permissions_as_data():
    assert allowed("ichigo-follower") == {("ray.io", "rayservices"): frozenset({"get", "patch"})}
    assert allowed("ichigo-pipeline")[("", "pods/log")] == {"get"}
    assert allowed("ichigo-mlflow") == {}
    require("ichigo-pipeline", "trainer.kubeflow.org", "trainjobs", ["create", "watch"])
    with pytest.raises(PermissionError, match="update"):
        require("ichigo-follower", "ray.io", "rayservices", ["update"])


@pytest.mark.slow
def test_every_render_grants_exactly_permissions_py(renders):
    for source, objs in renders.items():
        assert check_rbac(objs) == [], source


@pytest.mark.slow
def test_extra_and_wildcard_grants_are_flagged(renders):
    objs = copy.deepcopy(renders["helm:values.yaml"])
    role = next(o for o in objs if o["kind"] == "Role" and o["metadata"]["name"] == "ichigo-follower")
    role["rules"].append({"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]})
    errors = check_rbac(objs)
    assert any("wildcard in verbs" in e for e in errors), errors
    assert any("ichigo-follower is granted ['*'] on core/secrets" in e for e in errors), errors


def test_permissions_cover_each_service_account():
    assert set(PERMISSIONS) == {"ichigo-pipeline", "ichigo-follower"}
