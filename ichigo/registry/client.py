"""The registry client: MLflow's registry and run calls for one registered model, grouped by what
they act on (experiment, registered model, model version, alias, run), each one retried on
transient failures with exponential backoff inside the method. When the tracking server or the
artifact store stays unreachable, the error says so clearly (RegistryUnavailableError).

Everything in ichigo.registry talks to MLflow through these methods: nothing else retries."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping, TypeVar

from ichigo.config import RegistryConfig
from ichigo.errors import IchigoError
from ichigo.paths import default_workdir
from ichigo.registry.version import VersionInfo

if TYPE_CHECKING:
    from mlflow.models.model import ModelInfo

log = logging.getLogger(__name__)
T = TypeVar("T")

# MLflow error codes that mean "try again", not "you asked for something wrong"
_RETRY_CODES = {"TEMPORARILY_UNAVAILABLE", "INTERNAL_ERROR", "REQUEST_LIMIT_EXCEEDED", "RESOURCE_EXHAUSTED",
                "DEADLINE_EXCEEDED", "ABORTED"}
_MISSING_CODES = ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND")


class RegistryUnavailableError(IchigoError):
    """MLflow (or the S3 store behind it) did not answer after all retries."""


def expand(value: str) -> str:
    """Profiles write paths relative to the run workdir as `{workdir}`."""
    return value.replace("{workdir}", str(default_workdir()))


def is_transient(exc: BaseException) -> bool:
    from mlflow.exceptions import MlflowException

    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    try:
        import requests

        if isinstance(exc, (requests.ConnectionError, requests.Timeout)):
            return True
    except ImportError:  # pragma: no cover - requests ships with mlflow
        pass
    try:
        from botocore.exceptions import ConnectionError as BotoConnectionError, EndpointConnectionError

        if isinstance(exc, (BotoConnectionError, EndpointConnectionError)):
            return True
    except ImportError:  # pragma: no cover
        pass
    if isinstance(exc, MlflowException):
        msg = str(exc)
        # rest_utils wraps connection failures as "API request to ... failed with exception ..."
        return (exc.error_code in _RETRY_CODES or "failed with exception" in msg
                or "failed with timeout" in msg or "Max retries exceeded" in msg)
    return False


def _error_code(exc: BaseException) -> str | None:
    from mlflow.exceptions import MlflowException

    return exc.error_code if isinstance(exc, MlflowException) else None


class RegistryClient:
    """`MlflowClient` for the registered model `cfg.model_name`, with the retries inside.

    `what` (where a method takes it) names the call in the error when the registry stays down."""

    def __init__(self, cfg: RegistryConfig, sleep: Callable[[float], None] = time.sleep,
                 mlflow_client: Any = None):
        """`mlflow_client` replaces MLflow's own (tests script its failures with it)."""
        from mlflow import MlflowClient

        self.cfg = cfg
        self.tracking_uri = expand(cfg.tracking_uri)
        self._sleep = sleep
        if cfg.s3_endpoint_url:
            os.environ["MLFLOW_S3_ENDPOINT_URL"] = cfg.s3_endpoint_url
        # our own retry loop owns the backoff: MLflow's built-in one (7 tries, factor 2) would hide
        # a dead server for minutes. An explicit setting in the environment still wins.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        # private: every call goes through a method below, so none escapes the retries
        self._mlflow = mlflow_client or MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    def for_model(self, name: str) -> "RegistryClient":
        """The same registry, another registered model (a models:/ URI may name any)."""
        if name == self.model_name:
            return self
        return RegistryClient(self.cfg.model_copy(update={"model_name": name}), sleep=self._sleep,
                              mlflow_client=self._mlflow)

    @property
    def model_name(self) -> str:
        return self.cfg.model_name

    @contextlib.contextmanager
    def fluent(self) -> Iterator[None]:
        """MLflow's process-wide URIs pointed at this registry for the fluent calls that need them
        (pyfunc.log_model, artifacts.download_artifacts), then restored: left set, they would
        become the registry of every later MlflowClient built without one."""
        import mlflow
        from mlflow.tracking import _tracking_service, _model_registry

        before = (_tracking_service.utils._tracking_uri, _model_registry.utils._registry_uri)
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        try:
            yield
        finally:
            _tracking_service.utils._tracking_uri, _model_registry.utils._registry_uri = before

    def artifact_location(self) -> str | None:
        from ichigo.tracking import artifact_location

        return artifact_location(self.cfg.model_copy(update={"tracking_uri": self.tracking_uri}))

    # ---- the retry loop --------------------------------------------------------------------
    def _retry(self, what: str, fn: Callable[[], T], recover: Callable[[], T | None] | None = None) -> T:
        """fn(), retried on transient failures; RegistryUnavailableError at the end. `recover`
        runs before each retry: a value from it ends the loop (a write whose response was lost
        but which the server did make)."""
        attempts = self.cfg.retries + 1
        delay = self.cfg.retry_backoff_seconds
        for i in range(attempts):
            if i and recover is not None:
                found = recover()
                if found is not None:
                    return found
            try:
                return fn()
            except Exception as e:  # noqa: BLE001 - classified right below
                if not is_transient(e):
                    raise
                if i == attempts - 1:
                    raise RegistryUnavailableError(
                        f"MLflow registry at {self.tracking_uri} did not answer {what} after {attempts} "
                        f"attempt(s): {_short(e)}. Check that the MLflow server (and the S3 store behind "
                        "it) runs and that registry.tracking_uri / registry.s3_endpoint_url are right.") from e
                log.warning("registry call %s failed (%s); retry %d/%d in %.2fs",
                            what, _short(e), i + 1, attempts - 1, delay)
                self._sleep(delay)
                delay = min(delay * 2, self.cfg.retry_max_backoff_seconds)
        raise AssertionError("unreachable")

    # ---- experiment ------------------------------------------------------------------------
    def experiment_id(self) -> str:
        """The id of cfg.experiment, created (with the profile's artifact location) if missing."""
        exp = self._retry("get experiment", lambda: self._mlflow.get_experiment_by_name(self.cfg.experiment))
        if exp is not None:
            return exp.experiment_id
        from mlflow.exceptions import MlflowException

        try:
            return self._retry("create experiment", lambda: self._mlflow.create_experiment(
                self.cfg.experiment, artifact_location=self.artifact_location()))
        except MlflowException as e:  # created concurrently by another registration
            if e.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return self._retry("get experiment",
                               lambda: self._mlflow.get_experiment_by_name(self.cfg.experiment)).experiment_id

    # ---- registered model ------------------------------------------------------------------
    def registered_model_tags(self) -> dict[str, str]:
        rm = self._retry("get model", lambda: self._mlflow.get_registered_model(self.model_name))
        return dict(rm.tags or {})

    def ensure_registered_model(self, description: str) -> None:
        """Create the registered model unless it exists (or another run creates it meanwhile)."""
        from mlflow.exceptions import MlflowException

        try:
            self._retry("get model", lambda: self._mlflow.get_registered_model(self.model_name))
            return
        except MlflowException as e:
            if e.error_code != "RESOURCE_DOES_NOT_EXIST":
                raise
        try:
            self._retry("create model", lambda: self._mlflow.create_registered_model(
                self.model_name, description=description))
        except MlflowException as e:  # created concurrently
            if e.error_code != "RESOURCE_ALREADY_EXISTS":
                raise

    def set_registered_model_tag(self, key: str, value: str) -> None:
        self._retry("set tag", lambda: self._mlflow.set_registered_model_tag(self.model_name, key, value))

    # ---- model versions --------------------------------------------------------------------
    def get_model_version(self, version: str | int) -> VersionInfo | None:
        """The version, or None when it (or the registered model) does not exist."""
        from mlflow.exceptions import MlflowException

        try:
            mv = self._retry("get version", lambda: self._mlflow.get_model_version(self.model_name, str(version)))
        except MlflowException as e:
            if e.error_code in _MISSING_CODES:
                return None
            raise
        return VersionInfo.from_mlflow(mv)

    def search_model_versions(self, filter_string: str) -> list[VersionInfo]:
        """Versions matching an MLflow filter; none when the registered model does not exist."""
        from mlflow.exceptions import MlflowException

        try:
            found = self._retry("search versions", lambda: self._mlflow.search_model_versions(filter_string))
        except MlflowException as e:
            if e.error_code == "RESOURCE_DOES_NOT_EXIST":
                return []
            raise
        return [VersionInfo.from_mlflow(m) for m in found]

    def create_model_version(self, source: str, *, run_id: str, tags: Mapping[str, str], description: str,
                             model_id: str | None, find_existing: Callable[[], str | None]) -> str:
        """A new version of `source`; its number. `find_existing` is asked before every retry: a
        create whose response was lost (connection dropped after the server committed it) must
        not make a second version."""
        return self._retry(
            "create_model_version",
            lambda: str(self._mlflow.create_model_version(self.model_name, source, run_id=run_id, tags=dict(tags),
                                                         description=description, model_id=model_id).version),
            recover=find_existing)

    def set_model_version_tag(self, version: str, key: str, value: str, what: str = "set tag") -> None:
        self._retry(what, lambda: self._mlflow.set_model_version_tag(self.model_name, version, key, value))

    def delete_model_version_tag(self, version: str, key: str) -> None:
        self._retry("delete tag", lambda: self._mlflow.delete_model_version_tag(self.model_name, version, key))

    def download_model_version(self, v: VersionInfo, dst_path: str) -> None:
        """The version's model artifacts (MLmodel, artifacts/...) into dst_path."""
        import mlflow.artifacts

        with self.fluent():
            self._retry(f"download {v.uri}", lambda: mlflow.artifacts.download_artifacts(
                artifact_uri=v.uri, dst_path=dst_path, tracking_uri=self.tracking_uri))

    # ---- aliases ---------------------------------------------------------------------------
    def get_version_by_alias(self, alias: str) -> VersionInfo | None:
        """The version `alias` points at, or None when the alias (or the model) does not exist."""
        from mlflow.exceptions import MlflowException

        try:
            mv = self._retry("get alias", lambda: self._mlflow.get_model_version_by_alias(self.model_name, alias))
        except MlflowException as e:
            if e.error_code in _MISSING_CODES or e.error_code == "INVALID_PARAMETER_VALUE":
                return None
            raise
        return VersionInfo.from_mlflow(mv)

    def set_alias(self, alias: str, version: str) -> None:
        """Point `alias` at `version` as is (ichigo.registry.aliases.set_alias checks it first)."""
        self._retry("set alias", lambda: self._mlflow.set_registered_model_alias(self.model_name, alias, version))

    # ---- runs ------------------------------------------------------------------------------
    def create_run(self, experiment_id: str, run_name: str, tags: Mapping[str, str]) -> str:
        """A new run; its id."""
        run = self._retry("create run", lambda: self._mlflow.create_run(experiment_id, tags=dict(tags),
                                                                       run_name=run_name))
        return run.info.run_id

    def log_batch(self, run_id: str, metrics: Mapping[str, float], params: Mapping[str, str]) -> None:
        """Metrics (step 0, stamped now) and params in one request."""
        from mlflow.entities import Metric, Param

        ts = int(time.time() * 1000)
        self._retry("log metrics", lambda: self._mlflow.log_batch(
            run_id, metrics=[Metric(k, v, ts, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()]))

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None,
                     what: str = "log artifact") -> None:
        self._retry(what, lambda: self._mlflow.log_artifact(run_id, local_path, artifact_path))

    def log_model(self, run_id: str, what: str = "log model", **model_log_args: Any) -> "ModelInfo":
        """`mlflow.models.Model.log(**model_log_args)` into the run (uploads to the artifact store):
        pyfunc.log_model's work with the caller's flavor module, see ichigo.registry.pyfunc."""
        import mlflow
        from mlflow.models import Model

        def log() -> "ModelInfo":
            with self.fluent(), mlflow.start_run(run_id=run_id):
                return Model.log(**model_log_args)

        return self._retry(what, log)

    def get_run_metrics(self, run_id: str) -> dict[str, float]:
        """The run's latest value of each metric."""
        return dict(self._retry("get run", lambda: self._mlflow.get_run(run_id)).data.metrics)

    def set_terminated(self, run_id: str, status: str = "FINISHED") -> None:
        self._retry("end run", lambda: self._mlflow.set_terminated(run_id, status))

    def mark_failed(self, run_id: str) -> None:
        """One attempt at ending the run FAILED, errors ignored: it runs while another error is on
        its way up, and that one is the one to report (retrying would only delay it)."""
        try:
            self._mlflow.set_terminated(run_id, "FAILED")
        except Exception:  # noqa: BLE001 - see above
            pass


def _short(e: BaseException) -> str:
    s = f"{type(e).__name__}: {e}"
    return s if len(s) < 300 else s[:297] + "..."
