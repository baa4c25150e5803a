"""Where a model version came from: code, data, configs, metrics, gate decision.

The lineage hash is the identity of a registration: registering the same lineage twice finds the
existing version instead of creating a duplicate.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ichigo.errors import InputError
from ichigo.paths import REPO_ROOT

if TYPE_CHECKING:
    from ichigo.config import Profile

MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class CodeVersion:
    git_sha: str
    dirty: bool

    @property
    def label(self) -> str:
        return self.git_sha + ("-dirty" if self.dirty else "")


@dataclass(frozen=True)
class DataManifest:
    name: str
    uri: str
    sha256: str


@dataclass
class Lineage:
    pipeline_run_id: str
    code: CodeVersion
    data_manifests: list[DataManifest] = field(default_factory=list)
    stage_configs: dict[str, Any] = field(default_factory=dict)
    eval_metrics: dict[str, float] = field(default_factory=dict)
    gate_report: dict[str, Any] = field(default_factory=dict)
    model_card: str | None = None  # Markdown; generated at registration when None
    profile: str = ""
    stage_results: dict[str, Any] = field(default_factory=dict)  # e.g. loss curves per stage

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Lineage":
        d = dict(d)
        d["code"] = CodeVersion(**d["code"])
        d["data_manifests"] = [DataManifest(**m) for m in d.get("data_manifests", [])]
        return cls(**d)

    def hash(self) -> str:
        """sha256 of everything except the model card (derived text, not provenance)."""
        d = self.to_dict()
        d.pop("model_card", None)
        return hashlib.sha256(_canonical(d).encode()).hexdigest()


def _canonical(obj: Any) -> str:
    # sorted keys and no whitespace: the same lineage always gives the same bytes
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str, allow_nan=True)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def code_version(repo: str | Path = REPO_ROOT) -> CodeVersion:
    """git sha + dirty flag of the checkout. Container images have no .git: they set ICHIGO_GIT_SHA
    (and optionally ICHIGO_GIT_DIRTY=1) at build time."""
    env_sha = os.environ.get("ICHIGO_GIT_SHA")
    if env_sha:
        return CodeVersion(env_sha, os.environ.get("ICHIGO_GIT_DIRTY", "0") in ("1", "true"))
    try:
        sha = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], check=True,
                             capture_output=True, text=True).stdout.strip()
        status = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                                check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return CodeVersion("unknown", True)
    return CodeVersion(sha, bool(status.strip()))


def data_manifests(data_dirs: Mapping[str, str | Path]) -> list[DataManifest]:
    """One entry per manifest.json found under each named dir (or the file itself)."""
    out: list[DataManifest] = []
    for name, root in sorted(data_dirs.items()):
        p = Path(root)
        if p.is_file():
            files = [p]
        elif p.is_dir():
            files = sorted(p.rglob(MANIFEST_NAME))
        else:
            raise InputError(f"data dir {name!r}: {p} does not exist")
        if not files:
            raise InputError(f"data dir {name!r}: no {MANIFEST_NAME} under {p}; "
                             "pass the dataset directories the stages were trained on")
        for f in files:
            rel = f.relative_to(p).as_posix() if p.is_dir() else f.name
            out.append(DataManifest(f"{name}/{rel}", str(f), sha256_file(f)))
    return out


def validate_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Metrics MLflow can store: finite numbers keyed by non-empty strings."""
    out: dict[str, float] = {}
    for k, v in metrics.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InputError(f"metric {k!r} must be a finite number, got {v!r}")
        if not k:
            raise InputError("metric names must be non-empty")
        out[str(k)] = float(v)
    return out


def numeric_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The numbers of an eval summary (which also carries labels, lists, ...), validated."""
    nums = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    if metrics and not nums:
        raise InputError(f"no numeric metrics among {sorted(metrics)[:10]}: pass the eval summary's numbers")
    return validate_metrics(nums)


def build_lineage(profile: "Profile", pipeline_run_id: str, data_dirs: Mapping[str, str | Path],
                  stage_summaries: Mapping[str, Any] | None = None,
                  metrics: Mapping[str, Any] | None = None,
                  gate_report: Mapping[str, Any] | None = None,
                  repo: str | Path = REPO_ROOT) -> Lineage:
    """The lineage of a pipeline run: its profile's stage configs, the data it read, the code."""
    if not pipeline_run_id:
        raise InputError("pipeline_run_id must be set (the KFP run id or `ichigo run` label)")
    return Lineage(
        pipeline_run_id=pipeline_run_id,
        code=code_version(repo),
        data_manifests=data_manifests(data_dirs),
        stage_configs={name: st.model_dump() for name, st in sorted(profile.training.stages.items())},
        eval_metrics=numeric_metrics(metrics or {}),
        gate_report=dict(gate_report or {}),
        profile=profile.name,
        stage_results=dict(stage_summaries or {}),
    )
