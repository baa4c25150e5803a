import pytest

from ichigo.deploy.crd_schema import validate_custom_resource


def trainjob(**trainer):
    return {
        "apiVersion": "trainer.kubeflow.org/v1alpha1", "kind": "TrainJob",
        "metadata": {"name": "stage2", "namespace": "ichigo"},
        "spec": {"runtimeRef": {"name": "ichigo-torch-distributed", "kind": "ClusterTrainingRuntime",
                                "apiGroup": "trainer.kubeflow.org"},
                 "trainer": {"numNodes": 1, "numProcPerNode": 8,
                             "command": ["python", "-m", "ichigo.train"], **trainer}},
    }


def test_valid_trainjob(shared_dir):
    assert validate_custom_resource(trainjob()) == []


def test_type_error_and_unknown_field(shared_dir):
    errs = validate_custom_resource(trainjob(numProcPerNode="auto"))
    assert any("spec.trainer.numProcPerNode" in e and "'auto' is not of type 'integer'" in e for e in errs), errs
    errs = validate_custom_resource(trainjob(gpusPerNode=8))
    assert any("'gpusPerNode' was unexpected" in e for e in errs), errs


def test_unknown_kind_is_an_error(shared_dir):
    (err,) = validate_custom_resource({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {}})
    assert "no CRD schema" in err and "RayService" in err


def test_missing_schemas_dir_says_what_to_set(tmp_path, monkeypatch):
    from ichigo.errors import ConfigError

    monkeypatch.setenv("ICHIGO_SCHEMAS_DIR", str(tmp_path))
    with pytest.raises(ConfigError, match="ICHIGO_SCHEMAS_DIR"):
        validate_custom_resource(trainjob())
