"""Validate custom resources (RayService, ClusterTrainingRuntime, TrainJob, ...) against the
`openAPIV3Schema` of their CRD, read from `ichigo.paths.schemas_dir()` (never copied).

kubernetes-validate only knows built-in kinds; this covers the CRs. Unknown fields are errors,
as with `kubectl apply --validate=strict`: objects without `x-kubernetes-preserve-unknown-fields`
get `additionalProperties: false`.

    errors = validate_custom_resource(obj)   # [] when valid
"""

from __future__ import annotations

import copy
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from ichigo.errors import ConfigError
from ichigo.paths import schemas_dir

# the CRD subdirectories of schemas_dir() this project deploys or creates
CRD_DIRS = ("kuberay", "kubeflow-trainer-v2")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _strict(schema: Any) -> Any:
    """Copy of an OpenAPI v3 schema where every closed object rejects unknown properties."""
    if isinstance(schema, list):
        return [_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _strict(v) for k, v in schema.items()}
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


@lru_cache(maxsize=None)
def _index(root: str) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> CRD version entry, from every CRD under CRD_DIRS."""
    base = Path(root)
    index: dict[tuple[str, str], dict[str, Any]] = {}
    for sub in CRD_DIRS:
        d = base / sub
        if not d.is_dir():
            raise ConfigError(f"CRD schemas not found at {d}: set ICHIGO_SCHEMAS_DIR to ../shared/schemas")
        for f in sorted(d.glob("*.yaml")):
            for doc in yaml.load_all(f.read_text(), Loader=_Loader):
                if not doc or doc.get("kind") != "CustomResourceDefinition":
                    continue
                group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
                for ver in doc["spec"]["versions"]:
                    index[(f"{group}/{ver['name']}", kind)] = {"file": f.name, "version": ver}
    return index


@lru_cache(maxsize=None)
def _validator(root: str, api_version: str, kind: str) -> jsonschema.protocols.Validator:
    entry = _index(root)[(api_version, kind)]
    schema = _strict(copy.deepcopy(entry["version"]["schema"]["openAPIV3Schema"]))
    schema.setdefault("required", [])
    return jsonschema.Draft7Validator(schema)


def known_kinds() -> set[tuple[str, str]]:
    return set(_index(str(schemas_dir())))


def is_custom_resource(obj: dict[str, Any]) -> bool:
    return (obj.get("apiVersion"), obj.get("kind")) in known_kinds()


def validate_custom_resource(obj: dict[str, Any]) -> list[str]:
    """Errors (path: message) for `obj` against its CRD schema; [] when valid.

    An apiVersion/kind without a CRD in schemas_dir() is itself an error."""
    root = str(schemas_dir())
    key = (obj.get("apiVersion"), obj.get("kind"))
    if key not in _index(root):
        kinds = sorted(f"{a} {k}" for a, k in _index(root))
        return [f"no CRD schema for apiVersion={key[0]!r} kind={key[1]!r} (known: {', '.join(kinds)})"]
    entry = _index(root)[key]
    if not entry["version"].get("served", True):
        return [f"{key[0]} {key[1]} is not served by the CRD in {entry['file']}"]
    name = (obj.get("metadata") or {}).get("name", "<unnamed>")
    errors = []
    for e in sorted(_validator(root, *key).iter_errors(obj), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in e.absolute_path) or "<root>"
        errors.append(f"{key[1]}/{name} {path}: {e.message}")
    return errors
