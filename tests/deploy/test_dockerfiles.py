"""The Dockerfiles cannot be built here (no engine): check what can be checked statically."""

import re

import pytest

from ichigo.paths import REPO_ROOT

DOCKERFILES = ["components", "training", "serving"]


@pytest.mark.parametrize("name", DOCKERFILES)
def test_dockerfile_is_multistage_nonroot_and_pinned(name):
    text = (REPO_ROOT / "docker" / f"{name}.Dockerfile").read_text()
    froms = re.findall(r"^FROM\s+(\S+)", text, re.M)
    assert len(froms) >= 2, "multi-stage build expected"
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1].split(":")[0] == "10001"  # matches runAsUser in the manifests
    assert re.search(r"pip install [^\n]*-c \S*constraints", text), "install with the project's constraints"
    if name != "components":
        assert froms[-1].startswith("pytorch/pytorch:2.13.0-cuda"), froms[-1]
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    for src in re.findall(r"^COPY (?!--from)(\S+)", text, re.M):
        assert (REPO_ROOT / src).exists() or src in ("ichigo", "components", "pipelines", "serving"), src
        assert src not in ignored, f"{src} is excluded by .dockerignore"
