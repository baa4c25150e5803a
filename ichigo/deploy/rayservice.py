"""The follower's cluster target: point the RayService's Serve application at a model version.

KubeRay applies a changed `serveConfigV2` to the running cluster in place (a Serve application
update, no new RayCluster), so patching the application's `args.model_uri` to the pinned
`models:/<name>/<version>` rolls every replica to that version. Only `get` and `patch` on
ray.io/rayservices are used: exactly what ichigo/deploy/permissions.py grants `ichigo-follower`.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any, Protocol

import yaml

from ichigo.deploy.permissions import require
from ichigo.deploy.serve_config import APP_NAME
from ichigo.errors import ConfigError

log = logging.getLogger(__name__)

GROUP, API_VERSION, PLURAL = "ray.io", "v1", "rayservices"
SERVICE_ACCOUNT = "ichigo-follower"
FAILED_APP_STATES = {"DEPLOY_FAILED", "UNHEALTHY"}


class PinnedVersion(Protocol):
    """What the patcher needs of a registry version (ichigo.registry.VersionInfo has it); a
    protocol, so deploy/ does not import registry/, which imports this module back."""

    @property
    def uri(self) -> str: ...

    @property
    def version(self) -> str: ...


class RayServicePatcher:
    """`apply` callable for AliasFollower (plus `healthy` as its health check)."""

    def __init__(self, name: str, namespace: str, api: Any = None, app_name: str = APP_NAME,
                 health_timeout: float = 600.0, health_interval: float = 5.0):
        if api is None:
            from kubernetes import client

            api = client.CustomObjectsApi()
        self.api, self.name, self.namespace, self.app_name = api, name, namespace, app_name
        self.health_timeout, self.health_interval = health_timeout, health_interval

    @classmethod
    def from_environment(cls, name: str, namespace: str, **kw: Any) -> "RayServicePatcher":
        """In a pod: the ServiceAccount token; elsewhere: the current kubeconfig context."""
        from kubernetes import client, config

        try:
            config.load_incluster_config()
        except config.ConfigException:
            # read KUBECONFIG now: the client only looks at it once, when first imported
            config.load_kube_config(config_file=os.environ.get("KUBECONFIG"))
        return cls(name, namespace, client.CustomObjectsApi(), **kw)

    # ---- API calls (each checked against the RBAC the follower is granted) ------------------
    def _get(self) -> dict[str, Any]:
        require(SERVICE_ACCOUNT, GROUP, PLURAL, {"get"})
        return self.api.get_namespaced_custom_object(GROUP, API_VERSION, self.namespace, PLURAL, self.name)

    def _patch(self, body: dict[str, Any]) -> dict[str, Any]:
        require(SERVICE_ACCOUNT, GROUP, PLURAL, {"patch"})
        return self.api.patch_namespaced_custom_object(GROUP, API_VERSION, self.namespace, PLURAL,
                                                       self.name, body)

    def _app(self, serve_config: dict[str, Any]) -> dict[str, Any]:
        for app in serve_config.get("applications") or []:
            if app.get("name") == self.app_name:
                return app
        raise ConfigError(f"RayService {self.namespace}/{self.name} has no Serve application "
                          f"{self.app_name!r} in spec.serveConfigV2: render it with ichigo.deploy.render")

    def _serve_config(self, obj: dict[str, Any]) -> dict[str, Any]:
        raw = (obj.get("spec") or {}).get("serveConfigV2")
        if not raw:
            raise ConfigError(f"RayService {self.namespace}/{self.name} has no spec.serveConfigV2")
        return yaml.safe_load(raw)

    def deployed_version(self) -> str | None:
        """The version the RayService is pinned to now (None: it follows the alias itself)."""
        args = self._app(self._serve_config(self._get())).get("args") or {}
        v = args.get("model_version")
        return str(v) if v is not None else None

    def __call__(self, version: PinnedVersion, package_path: Path | None = None) -> None:
        cfg = self._serve_config(self._get())
        app = self._app(cfg)
        args = app.setdefault("args", {})
        args["model_uri"] = version.uri
        args["model_version"] = version.version
        body = {"spec": {"serveConfigV2": yaml.safe_dump(cfg, sort_keys=False)}}
        self._patch(body)
        log.info("patched RayService %s/%s to %s", self.namespace, self.name, version.uri)

    # ---- health ------------------------------------------------------------------------------
    def status(self) -> str:
        """ready | progressing | failed, from the RayService status KubeRay maintains."""
        obj = self._get()
        st = obj.get("status") or {}
        gen = (obj.get("metadata") or {}).get("generation")
        if gen is not None and (st.get("observedGeneration") or 0) < gen:
            return "progressing"
        for c in st.get("conditions") or []:
            if c.get("type") == "UpgradeInProgress" and c.get("status") == "True":
                return "progressing"
        app = ((st.get("activeServiceStatus") or {}).get("applicationStatuses") or {}).get(self.app_name) or {}
        state = app.get("status")
        if state in FAILED_APP_STATES:
            return "failed"
        return "ready" if state == "RUNNING" else "progressing"

    def healthy(self) -> bool:
        """Waits until the patched application runs (True) or failed / timed out (False)."""
        deadline = time.monotonic() + self.health_timeout
        while True:
            s = self.status()
            if s != "progressing":
                return s == "ready"
            if time.monotonic() >= deadline:
                log.error("RayService %s/%s not ready after %.0fs", self.namespace, self.name, self.health_timeout)
                return False
            time.sleep(self.health_interval)
