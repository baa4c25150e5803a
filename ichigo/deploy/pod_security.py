"""Restricted pod security for every pod template, custom resources included.

checkov only scans built-in workload kinds; the RayService head/workers and the training runtime's
pods live inside custom resources, so this walks any object for pod specs (a mapping with a
`containers` list) and applies the same rules.
"""

from __future__ import annotations

from typing import Any, Iterator

# long-running kinds whose containers must have liveness and readiness probes
SERVICE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "RayService", "RayCluster"}


def pod_specs(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if isinstance(node.get("containers"), list):
            yield path or "<root>", node
        for k, v in node.items():
            yield from pod_specs(v, f"{path}.{k}" if path else k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from pod_specs(v, f"{path}[{i}]")


def check_pod_security(objs: list[dict[str, Any]]) -> list[str]:
    errors = []
    for obj in objs:
        name = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
        for path, spec in pod_specs(obj):
            where = f"{name} {path}"
            psc = spec.get("securityContext") or {}
            if psc.get("runAsNonRoot") is not True:
                errors.append(f"{where}: securityContext.runAsNonRoot must be true")
            if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
                errors.append(f"{where}: securityContext.seccompProfile.type must be RuntimeDefault")
            if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
                errors.append(f"{where}: host namespaces are not allowed")
            for c in spec.get("containers", []) + spec.get("initContainers", []):
                cw = f"{where} container {c.get('name')}"
                sc = c.get("securityContext") or {}
                if sc.get("privileged"):
                    errors.append(f"{cw}: privileged is not allowed")
                if sc.get("allowPrivilegeEscalation") is not False:
                    errors.append(f"{cw}: allowPrivilegeEscalation must be false")
                if sc.get("readOnlyRootFilesystem") is not True:
                    errors.append(f"{cw}: readOnlyRootFilesystem must be true (mount an emptyDir for /tmp)")
                if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
                    errors.append(f"{cw}: capabilities.drop must include ALL")
                res = c.get("resources") or {}
                for kind in ("requests", "limits"):
                    missing = {"cpu", "memory"} - set(res.get(kind) or {})
                    if missing:
                        errors.append(f"{cw}: resources.{kind} lacks {sorted(missing)}")
                if obj.get("kind") in SERVICE_KINDS and c in spec.get("containers", []):
                    for probe in ("livenessProbe", "readinessProbe"):
                        if probe not in c:
                            errors.append(f"{cw}: {probe} is missing")
    return errors
