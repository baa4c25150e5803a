"""Compare the RBAC in rendered manifests with `ichigo.deploy.permissions.PERMISSIONS`."""

from __future__ import annotations

from typing import Any, Iterable

from ichigo.deploy.permissions import NO_API_ACCESS, PERMISSIONS, allowed


def granted(objs: Iterable[dict[str, Any]]) -> tuple[dict[str, dict[tuple[str, str], set[str]]], list[str]]:
    """ServiceAccount name -> (group, resource) -> verbs granted by (Cluster)RoleBindings, plus
    problems found on the way (wildcards, bindings to roles that do not exist)."""
    objs = list(objs)
    roles = {(o["kind"], o["metadata"]["name"]): o for o in objs if o.get("kind") in ("Role", "ClusterRole")}
    out: dict[str, dict[tuple[str, str], set[str]]] = {}
    problems: list[str] = []
    for b in (o for o in objs if o.get("kind") in ("RoleBinding", "ClusterRoleBinding")):
        ref = b["roleRef"]
        role = roles.get((ref["kind"], ref["name"]))
        bname = f"{b['kind']}/{b['metadata']['name']}"
        if role is None:
            problems.append(f"{bname} refers to {ref['kind']}/{ref['name']}, which is not in the manifests")
            continue
        for subj in b.get("subjects") or []:
            if subj.get("kind") != "ServiceAccount":
                problems.append(f"{bname} binds {subj.get('kind')}/{subj.get('name')}: only ServiceAccounts expected")
                continue
            perms = out.setdefault(subj["name"], {})
            for rule in role.get("rules") or []:
                rname = f"{role['kind']}/{role['metadata']['name']}"
                if rule.get("nonResourceURLs"):
                    problems.append(f"{rname} grants nonResourceURLs {rule['nonResourceURLs']}")
                verbs, groups, resources = rule.get("verbs", []), rule.get("apiGroups", []), rule.get("resources", [])
                for field, values in (("verbs", verbs), ("apiGroups", groups), ("resources", resources)):
                    if "*" in values:
                        problems.append(f"{rname} uses a wildcard in {field}: list them explicitly")
                if rule.get("resourceNames"):
                    problems.append(f"{rname} restricts resourceNames; permissions.py cannot express that")
                for g in groups:
                    for r in resources:
                        perms.setdefault((g, r), set()).update(verbs)
    return out, problems


def check_rbac(objs: Iterable[dict[str, Any]]) -> list[str]:
    """Errors when any ServiceAccount's effective permissions differ from PERMISSIONS."""
    objs = list(objs)
    have, errors = granted(objs)
    sas = {o["metadata"]["name"] for o in objs if o.get("kind") == "ServiceAccount"}
    for sa in sorted(set(PERMISSIONS) | set(NO_API_ACCESS)):
        if sa not in sas:
            errors.append(f"ServiceAccount {sa} is missing from the manifests")
    for sa in sorted(sas | set(have)):
        want = allowed(sa)
        got = {k: frozenset(v) for k, v in have.get(sa, {}).items()}
        for key in sorted(set(want) | set(got)):
            group, resource = key
            missing, extra = want.get(key, frozenset()) - got.get(key, frozenset()), got.get(key, frozenset()) - want.get(key, frozenset())
            where = f"{group or 'core'}/{resource}"
            if missing:
                errors.append(f"ServiceAccount {sa} lacks {sorted(missing)} on {where} (required by permissions.py)")
            if extra:
                errors.append(f"ServiceAccount {sa} is granted {sorted(extra)} on {where}, not listed in permissions.py")
    return errors
