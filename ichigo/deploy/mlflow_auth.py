"""MLflow identities on the cluster (MLflow's basic-auth app), each with the least it needs.

| identity | experiment `ichigo` | registered model | why |
| --- | --- | --- | --- |
| admin | (admin) | (admin) | runs this bootstrap; nobody else uses it |
| pipeline | EDIT | EDIT | runs, metrics, artifacts; new versions; the `challenger` alias |
| follower | READ | EDIT | reads versions; moves `champion` back and tags failed rollouts |
| viewer | READ | READ | serving replicas resolving and downloading a version; humans |

`default_permission` is NO_PERMISSIONS, so an identity sees only what is granted here. Run as the
`mlflow-auth-bootstrap` Job (`python -m ichigo.deploy.mlflow_auth`): idempotent, it creates the
users (or resets their passwords to the Secrets' values), the experiment and the registered model,
then the grants. Plain REST calls to MLflow's auth API (no extra client dependency).
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

import requests

from ichigo.errors import ConfigError

ROLES: dict[str, dict[str, str]] = {
    "pipeline": {"experiment": "EDIT", "model": "EDIT"},
    "follower": {"experiment": "READ", "model": "EDIT"},
    "viewer": {"experiment": "READ", "model": "READ"},
}


@dataclass(frozen=True)
class Identity:
    role: str
    username: str
    password: str


def identities_from_env(env=os.environ) -> list[Identity]:
    """MLFLOW_<ROLE>_USERNAME / _PASSWORD for every role (the Job maps the Secrets onto them)."""
    out = []
    for role in ROLES:
        u, p = env.get(f"MLFLOW_{role.upper()}_USERNAME"), env.get(f"MLFLOW_{role.upper()}_PASSWORD")
        if not u or not p:
            raise ConfigError(f"set MLFLOW_{role.upper()}_USERNAME and MLFLOW_{role.upper()}_PASSWORD "
                              f"(Secret ichigo-mlflow-{role})")
        if len(p) < 12:
            raise ConfigError(f"MLFLOW_{role.upper()}_PASSWORD is shorter than 12 characters")
        out.append(Identity(role, u, p))
    return out


class Admin:
    def __init__(self, base: str, username: str, password: str, timeout: float = 30.0):
        self.base, self.auth, self.timeout = base.rstrip("/"), (username, password), timeout

    def _call(self, method: str, path: str, ok_codes: tuple[str, ...] = (), version: int = 2, **body) -> dict:
        kw = {"params": body} if method == "GET" else {"json": body}
        r = requests.request(method, f"{self.base}/api/{version}.0/mlflow/{path}", auth=self.auth,
                             timeout=self.timeout, **kw)
        if r.ok:
            return r.json() if r.content else {}
        code = (r.json() if r.headers.get("content-type", "").startswith("application/json") else {}).get("error_code")
        if code in ok_codes:
            return {}
        raise RuntimeError(f"{method} {path} -> {r.status_code}: {r.text[:300]}")

    def ensure_user(self, who: Identity) -> None:
        if self._call("POST", "users/create", ("RESOURCE_ALREADY_EXISTS",),
                      username=who.username, password=who.password) == {}:
            self._call("PATCH", "users/update-password", username=who.username, password=who.password)

    def ensure_experiment(self, name: str) -> str:
        got = self._call("GET", "experiments/get-by-name", ("RESOURCE_DOES_NOT_EXIST",), experiment_name=name)
        if got:
            return got["experiment"]["experiment_id"]
        return self._call("POST", "experiments/create", name=name)["experiment_id"]

    def ensure_model(self, name: str) -> None:
        self._call("POST", "registered-models/create", ("RESOURCE_ALREADY_EXISTS",), name=name)

    def grant(self, kind: str, target: str, username: str, permission: str) -> None:
        """MLflow 3's unified grant API; an existing grant is replaced (revoke + grant), so a
        re-run also lowers a permission someone raised by hand."""
        args = dict(username=username, resource_type={"experiment": "experiment", "model": "registered_model"}[kind],
                    resource_id=target)
        if self._call("POST", "users/permissions/grant", ("RESOURCE_ALREADY_EXISTS",), version=3,
                      permission=permission, **args) == {}:
            self._call("POST", "users/permissions/revoke", version=3, **args)
            self._call("POST", "users/permissions/grant", version=3, permission=permission, **args)


def bootstrap(base: str, admin: Admin, people: list[Identity], experiment: str, model: str) -> None:
    exp_id = admin.ensure_experiment(experiment)
    admin.ensure_model(model)
    for who in people:
        admin.ensure_user(who)
        grants = ROLES[who.role]
        admin.grant("experiment", exp_id, who.username, grants["experiment"])
        admin.grant("model", model, who.username, grants["model"])


def main() -> int:
    from ichigo.config import load_profile

    profile = load_profile(os.environ.get("ICHIGO_PROFILE", "h100"))
    base = os.environ.get("MLFLOW_TRACKING_URI") or profile.registry.tracking_uri
    try:
        people = identities_from_env()
        user, pw = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
        if not user or not pw:
            raise ConfigError("set MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD to the admin "
                              "(Secret ichigo-mlflow-admin)")
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    admin = Admin(base, user, pw)
    for attempt in range(30):  # the server may still be starting
        try:
            bootstrap(base, admin, people, profile.registry.experiment, profile.registry.model_name)
            print(f"MLflow identities ready at {base}: " + ", ".join(f"{p.username} ({p.role})" for p in people))
            return 0
        except requests.ConnectionError as e:
            print(f"waiting for MLflow at {base} ({e.__class__.__name__})", file=sys.stderr)
            time.sleep(10)
    return 1


if __name__ == "__main__":
    sys.exit(main())
