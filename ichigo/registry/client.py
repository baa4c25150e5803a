"""An MLflow client that retries transient failures with exponential backoff and, when the
tracking server or the artifact store stays unreachable, says so clearly."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from typing import Any, Callable, Iterator, TypeVar

from ichigo.config import RegistryConfig
from ichigo.errors import IchigoError
from ichigo.paths import default_workdir

log = logging.getLogger(__name__)
T = TypeVar("T")

# MLflow error codes that mean "try again", not "you asked for something wrong"
_RETRY_CODES = {"TEMPORARILY_UNAVAILABLE", "INTERNAL_ERROR", "REQUEST_LIMIT_EXCEEDED", "RESOURCE_EXHAUSTED",
                "DEADLINE_EXCEEDED", "ABORTED"}


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


class RegistryClient:
    """`MlflowClient` plus retries. Every registry call in ichigo.registry goes through `call`."""

    def __init__(self, cfg: RegistryConfig, sleep: Callable[[float], None] = time.sleep):
        import mlflow
        from mlflow import MlflowClient

        self.cfg = cfg
        self.tracking_uri = expand(cfg.tracking_uri)
        self._sleep = sleep
        if cfg.s3_endpoint_url:
            os.environ["MLFLOW_S3_ENDPOINT_URL"] = cfg.s3_endpoint_url
        # our own retry loop owns the backoff: MLflow's built-in one (7 tries, factor 2) would hide
        # a dead server for minutes. An explicit setting in the environment still wins.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
        self.mlflow = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

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

    @property
    def model_name(self) -> str:
        return self.cfg.model_name

    def artifact_location(self) -> str | None:
        from ichigo.tracking import artifact_location

        return artifact_location(self.cfg.model_copy(update={"tracking_uri": self.tracking_uri}))

    def call(self, fn: Callable[..., T], *args: Any, what: str = "", **kwargs: Any) -> T:
        """fn(*args, **kwargs), retried on transient failures; RegistryUnavailableError at the end."""
        attempts = self.cfg.retries + 1
        delay = self.cfg.retry_backoff_seconds
        for i in range(attempts):
            try:
                return fn(*args, **kwargs)
            except Exception as e:  # noqa: BLE001 - classified right below
                if not is_transient(e):
                    raise
                if i == attempts - 1:
                    raise RegistryUnavailableError(
                        f"MLflow registry at {self.tracking_uri} did not answer "
                        f"{what or getattr(fn, '__name__', 'call')} after {attempts} attempt(s): {_short(e)}. "
                        "Check that the MLflow server (and the S3 store behind it) runs and that "
                        "registry.tracking_uri / registry.s3_endpoint_url are right.") from e
                log.warning("registry call %s failed (%s); retry %d/%d in %.2fs",
                            what or getattr(fn, "__name__", "call"), _short(e), i + 1, attempts - 1, delay)
                self._sleep(delay)
                delay = min(delay * 2, self.cfg.retry_max_backoff_seconds)
        raise AssertionError("unreachable")

    def experiment_id(self) -> str:
        exp = self.call(self.mlflow.get_experiment_by_name, self.cfg.experiment, what="get experiment")
        if exp is not None:
            return exp.experiment_id
        from mlflow.exceptions import MlflowException

        try:
            return self.call(self.mlflow.create_experiment, self.cfg.experiment,
                             artifact_location=self.artifact_location(), what="create experiment")
        except MlflowException as e:  # created concurrently by another registration
            if e.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return self.call(self.mlflow.get_experiment_by_name, self.cfg.experiment).experiment_id


def _short(e: BaseException) -> str:
    s = f"{type(e).__name__}: {e}"
    return s if len(s) < 300 else s[:297] + "..."
