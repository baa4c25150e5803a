"""Render the platform (kustomize overlays, helm values files) and validate what comes out.

Layers, each catching a different kind of mistake:
  1. `helm lint --strict` (values.schema.json, template errors)
  2. kubernetes-validate --strict for built-in kinds, per Kubernetes version
  3. CRD openAPIV3Schema for custom resources (ichigo.deploy.crd_schema)
  4. RBAC == ichigo.deploy.permissions (ichigo.deploy.rbac_check), restricted pod security in
     every pod template, custom resources included (ichigo.deploy.pod_security)
  5. checkov security scan (ichigo.deploy.checkov_env, own venv)

    python -m ichigo.deploy.validate        # all renders through layers 1-4, prints a summary
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from ichigo.deploy.crd_schema import is_custom_resource, validate_custom_resource
from ichigo.deploy.pod_security import check_pod_security
from ichigo.deploy.rbac_check import check_rbac
from ichigo.errors import ConfigError
from ichigo.paths import REPO_ROOT

MANIFESTS = REPO_ROOT / "manifests"
CHART = REPO_ROOT / "helm" / "ichigo"
OVERLAYS = ("dev", "gke-h100", "eks-h100", "aks-h100")
VALUES_FILES = ("values.yaml", "values-dev.yaml", "values-gke-h100.yaml", "values-eks-h100.yaml",
                "values-aks-h100.yaml")
# oldest Kubernetes the platform supports, and the newest kubernetes-validate knows
K8S_VERSIONS = ("1.30", str(kubernetes_validate.latest_version()))


def tool(name: str) -> str:
    """A CLI from the venv's bin/ (helm, kubectl) or PATH; ConfigError says how to get it."""
    for candidate in (Path(sys.executable).parent / name, REPO_ROOT / ".venv/bin" / name):
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if not found:
        hint = "python scripts/fetch_helm.py .venv/bin" if name == "helm" else "scripts/bootstrap.sh"
        raise ConfigError(f"{name} not found in the venv or PATH: run {hint}")
    return found


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True)


def parse_docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def kustomize(overlay: str | Path) -> str:
    path = Path(overlay) if Path(overlay).is_dir() else MANIFESTS / "overlays" / str(overlay)
    res = _run([tool("kubectl"), "kustomize", str(path)])
    if res.returncode:
        raise ConfigError(f"kubectl kustomize {path} failed:\n{res.stderr.strip()}")
    return res.stdout


def helm_template(values_file: str | Path, chart: Path = CHART, namespace: str = "ichigo") -> str:
    res = _run([tool("helm"), "template", "ichigo", str(chart), "-n", namespace, "-f", str(chart / values_file)])
    if res.returncode:
        raise ConfigError(f"helm template -f {values_file} failed:\n{res.stderr.strip()}")
    return res.stdout


def helm_lint(values_file: str | Path, chart: Path = CHART) -> tuple[bool, str]:
    """(passed, helm's output) of `helm lint --strict` with one values file."""
    res = _run([tool("helm"), "lint", "--strict", str(chart), "-n", "ichigo", "-f", str(chart / values_file)])
    return res.returncode == 0, (res.stdout + res.stderr).strip()


def _name(obj: dict[str, Any]) -> str:
    return f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name', '<unnamed>')}"


def validate_builtin(objs: list[dict[str, Any]], version: str, strict: bool = True) -> list[str]:
    """kubernetes-validate errors for built-in kinds; custom resources are skipped (layer 3)."""
    errors = []
    for obj in objs:
        if is_custom_resource(obj):
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=strict)
        except kubernetes_validate.SchemaNotFoundError:
            errors.append(f"{_name(obj)}: no Kubernetes {version} schema for {obj.get('apiVersion')} {obj.get('kind')}")
        except kubernetes_validate.ValidationError as e:
            path = ".".join(str(p) for p in e.absolute_path) or "<root>"
            errors.append(f"{_name(obj)} (k8s {version}) {path}: {e.message}")
    return errors


def validate_custom(objs: list[dict[str, Any]]) -> list[str]:
    return [err for obj in objs if is_custom_resource(obj) for err in validate_custom_resource(obj)]


@dataclass
class Report:
    source: str
    objects: int
    errors: list[str]


def validate_objects(source: str, objs: list[dict[str, Any]], versions: tuple[str, ...] = K8S_VERSIONS) -> Report:
    """Layers 2-4 for one rendered set of objects (checkov runs separately, in its own venv)."""
    errors = [e for v in versions for e in validate_builtin(objs, v)]
    errors += validate_custom(objs)
    errors += check_rbac(objs)
    errors += check_pod_security(objs)
    return Report(source, len(objs), errors)


def all_renders() -> dict[str, str]:
    """source name -> rendered YAML for every overlay and values file."""
    out = {f"kustomize:{o}": kustomize(o) for o in OVERLAYS}
    out.update({f"helm:{v}": helm_template(v) for v in VALUES_FILES})
    return out


def main() -> int:
    failed = False
    for v in VALUES_FILES:
        ok, out = helm_lint(v)
        print(f"{'ok  ' if ok else 'FAIL'} helm lint --strict -f {v}")
        if not ok:
            failed = True
            print(out)
    for source, text in all_renders().items():
        rep = validate_objects(source, parse_docs(text))
        print(f"{'ok  ' if not rep.errors else 'FAIL'} {source}: {rep.objects} objects")
        for e in rep.errors:
            print(f"     {e}")
        failed |= bool(rep.errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
