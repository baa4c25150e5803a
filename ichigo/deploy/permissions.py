"""The Kubernetes API calls the platform's code makes, per ServiceAccount, as data.

Clients assert against this (a client that starts calling something new must add it here), and
tests/deploy checks that the RBAC in manifests/ and helm/ grants exactly this: nothing missing,
nothing extra, no wildcards.
"""

from __future__ import annotations

from typing import Iterable

# (api group, resource, verbs); "" is the core group
Rule = tuple[str, str, frozenset[str]]

PERMISSIONS: dict[str, list[Rule]] = {
    # KFP training components: submit a TrainJob, watch it, follow its pods' logs, clean up
    "ichigo-pipeline": [
        ("trainer.kubeflow.org", "trainjobs", frozenset({"create", "get", "list", "watch", "delete"})),
        ("", "pods", frozenset({"get", "list"})),
        ("", "pods/log", frozenset({"get"})),
    ],
    # the promotion follower: read the RayService, patch its serveConfigV2 to the new version
    "ichigo-follower": [
        ("ray.io", "rayservices", frozenset({"get", "patch"})),
    ],
}

# ServiceAccounts that exist but must have no RBAC bindings at all
NO_API_ACCESS = ("ichigo-mlflow", "ichigo-training")


def allowed(service_account: str) -> dict[tuple[str, str], frozenset[str]]:
    """(group, resource) -> verbs for one ServiceAccount (empty when it may call nothing)."""
    out: dict[tuple[str, str], set[str]] = {}
    for group, resource, verbs in PERMISSIONS.get(service_account, []):
        out.setdefault((group, resource), set()).update(verbs)
    return {k: frozenset(v) for k, v in out.items()}


def require(service_account: str, group: str, resource: str, verbs: Iterable[str]) -> None:
    """For clients: fail loudly (in tests) when code makes a call the RBAC does not grant."""
    have = allowed(service_account).get((group, resource), frozenset())
    missing = set(verbs) - have
    if missing:
        raise PermissionError(
            f"{service_account} is not granted {sorted(missing)} on {group or 'core'}/{resource}: "
            "add it to ichigo/deploy/permissions.py and the RBAC in manifests/ and helm/")
