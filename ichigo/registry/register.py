"""Register a gated candidate: one MLflow run with metrics, lineage, gate report and model card,
the package logged as a pyfunc model (artifacts on the S3 store), one model version with audit
tags, and the candidate alias (`challenger`) on it. Idempotent per lineage hash."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ichigo.errors import InputError
from ichigo.package import read_package_info
from ichigo.registry.aliases import now, set_alias, who
from ichigo.registry.client import RegistryClient, RegistryUnavailableError
from ichigo.registry.lineage import Lineage, numeric_metrics
from ichigo.registry.model_card import render_model_card
from ichigo.registry.version import LINEAGE_HASH_TAG, VersionInfo

log = logging.getLogger(__name__)
MODEL_ARTIFACT = "model"  # the logged model's name inside the run


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    run_id: str
    uri: str  # models:/<name>/<version>
    created: bool = True  # False when an existing version with the same lineage was reused


def _check_inputs(package_dir: Path, gate_report_paths: list[Path]) -> dict[str, Any]:
    if not Path(package_dir).is_dir():
        raise InputError(f"package dir {package_dir} does not exist")
    info = read_package_info(package_dir)  # raises with a clear message when it is no package
    for p in gate_report_paths:
        if not Path(p).is_file():
            raise InputError(f"gate report {p} does not exist")
    return vars(info)


def _find_by_lineage(client: RegistryClient, lineage_hash: str, pending: bool = False) -> VersionInfo | None:
    """The oldest version registered for this lineage: READY ones, and with `pending` also those
    still PENDING_REGISTRATION (made by a create whose response was lost, or by a concurrent run)."""
    flt = f"name = '{client.model_name}' and tags.`{LINEAGE_HASH_TAG}` = '{lineage_hash}'"
    ok = {"READY", "PENDING_REGISTRATION"} if pending else {"READY"}
    usable = sorted((v for v in client.search_model_versions(flt) if v.status in ok), key=lambda v: int(v.version))
    return usable[0] if usable else None


def _create_version_once(client: RegistryClient, lineage_hash: str, source: str, **kwargs: Any) -> str:
    """A new version of `source`, or the one of this lineage that a create whose response was
    lost already made (the client looks for it before every retry)."""
    def made() -> str | None:
        v = _find_by_lineage(client, lineage_hash, pending=True)
        if v is not None:
            log.warning("create_model_version's response was lost; version %s of this lineage "
                        "exists: using it", v.version)
        return v.version if v is not None else None

    return client.create_model_version(source, find_existing=made, **kwargs)


def _wait_ready(client: RegistryClient, version: str, timeout: float = 300.0) -> VersionInfo:
    deadline = time.monotonic() + timeout
    while True:
        v = client.get_model_version(version)
        if v is not None and v.status == "READY":
            return v
        if v is not None and v.status == "FAILED_REGISTRATION":
            raise RegistryUnavailableError(f"{client.model_name} version {version} failed to register")
        if time.monotonic() > deadline:
            raise RegistryUnavailableError(f"{client.model_name} version {version} not READY after {timeout}s")
        time.sleep(0.5)


def _pyfunc_profile(name: str) -> str:
    from ichigo.config import profile_names

    return name if name in profile_names() else "local"


def _version_tags(lineage: Lineage, lineage_hash: str) -> dict[str, str]:
    tags = {
        LINEAGE_HASH_TAG: lineage_hash,
        "ichigo.pipeline_run_id": lineage.pipeline_run_id,
        "ichigo.git_sha": lineage.code.git_sha,
        "ichigo.git_dirty": str(lineage.code.dirty).lower(),
        "ichigo.profile": lineage.profile,
        "ichigo.registered_by": who(),
        "ichigo.registered_at": now(),
    }
    if lineage.gate_report:
        tags["ichigo.gate_passed"] = str(bool(lineage.gate_report.get("passed"))).lower()
    for m in lineage.data_manifests:
        tags[f"ichigo.data.{m.name}"] = m.sha256
    return tags


def register_candidate(client: RegistryClient, package_dir: str | Path, metrics: dict[str, Any],
                       lineage: Lineage, gate_report_paths: list[Path] | list[str],
                       model_card: str | None = None, alias: str | None = None) -> RegisteredVersion:
    """Register the package with its lineage; `alias` defaults to registry.candidate_alias."""
    from ichigo.registry.pyfunc import MODEL_CODE, PACKAGE_ARTIFACT, UNCHECKED_PYFUNC, input_example, signature

    package_dir = Path(package_dir)
    reports = [Path(p) for p in gate_report_paths]
    info = _check_inputs(package_dir, reports)
    clean_metrics = numeric_metrics(metrics)
    if not lineage.eval_metrics:
        lineage = replace(lineage, eval_metrics=clean_metrics)
    card = model_card or lineage.model_card or render_model_card(client.model_name, lineage, clean_metrics, info)
    lineage = replace(lineage, model_card=card)
    lineage_hash = lineage.hash()
    alias = alias or client.cfg.candidate_alias

    existing = _find_by_lineage(client, lineage_hash, pending=True)
    if existing is not None:
        log.info("lineage %s already registered as version %s", lineage_hash[:12], existing.version)
        existing = _wait_ready(client, existing.version)
        set_alias(client, alias, existing.version)
        return RegisteredVersion(existing.name, existing.version, existing.run_id or "", existing.uri, created=False)

    exp_id = client.experiment_id()
    client.ensure_registered_model("Ichigo early-fusion speech LLM (sound tokens + Llama-3 decoder)")
    run_tags = {"ichigo.pipeline_run_id": lineage.pipeline_run_id, LINEAGE_HASH_TAG: lineage_hash,
                "mlflow.note.content": card, "ichigo.registered_by": who()}
    run_id = client.create_run(exp_id, run_name=f"register-{lineage.pipeline_run_id}"[:200], tags=run_tags)
    try:
        params = {f"{stage}.{k}": str(v)[:6000] for stage, c in lineage.stage_configs.items() for k, v in c.items()}
        params |= {"git_sha": lineage.code.git_sha, "git_dirty": str(lineage.code.dirty),
                   "profile": lineage.profile or "n/a"}
        client.log_batch(run_id, metrics=clean_metrics, params=params)
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "lineage.json").write_text(json.dumps(lineage.to_dict(), indent=2, default=str))
            (Path(tmp) / "model_card.md").write_text(card)
            client.log_artifact(run_id, str(Path(tmp) / "lineage.json"), what="log lineage")
            client.log_artifact(run_id, str(Path(tmp) / "model_card.md"), what="log card")
        for p in reports:
            client.log_artifact(run_id, str(p), "gate", what="log gate report")

        # MLflow stores a directory artifact under its own basename, and `resolve` looks for
        # artifacts/package: stage the package under that name whatever the caller called it
        # (hard links beside the package: no copy of the weights; MLflow refuses symlinks)
        with tempfile.TemporaryDirectory(dir=package_dir.resolve().parent) as tmp:
            staged = Path(tmp) / PACKAGE_ARTIFACT
            shutil.copytree(package_dir, staged, copy_function=_link_or_copy)
            # what pyfunc.log_model does, without loading the LLM to answer the input example
            # (ichigo.registry.pyfunc.UNCHECKED_PYFUNC); models from code: the registry stores a
            # file, not a pickled Python object
            model_info = client.log_model(
                run_id, what="upload the package",
                artifact_path=None, name=MODEL_ARTIFACT, flavor=UNCHECKED_PYFUNC,
                python_model=str(MODEL_CODE), model_config={"profile": _pyfunc_profile(lineage.profile)},
                artifacts={PACKAGE_ARTIFACT: str(staged)}, signature=signature(),
                input_example=input_example(), validate_serving_input=False,
                pip_requirements=["ichigo-platform"],  # the serving image has it installed
                tags={LINEAGE_HASH_TAG: lineage_hash})
        version = _create_version_once(client, lineage_hash, model_info.model_uri, run_id=run_id,
                                       tags=_version_tags(lineage, lineage_hash), description=card,
                                       model_id=model_info.model_id)
        client.set_terminated(run_id, "FINISHED")
    except BaseException:
        client.mark_failed(run_id)
        raise
    v = _wait_ready(client, version)
    set_alias(client, alias, v.version)
    return RegisteredVersion(v.name, v.version, run_id, v.uri)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
