"""A local HTTP server that answers the two Kubernetes API calls the follower makes on a
RayService (GET, merge PATCH), records every call, and plays KubeRay's part in the status:
after a spec change the app is progressing for `progress_polls` reads, then RUNNING, or
DEPLOY_FAILED when the pinned model version is in `fail_versions`."""

from __future__ import annotations

import copy
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import yaml

PATH = re.compile(r"^/apis/(?P<group>[^/]+)/(?P<version>[^/]+)/namespaces/(?P<ns>[^/]+)/(?P<plural>[^/]+)/(?P<name>[^/?]+)")


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


class FakeKube:
    def __init__(self, obj: dict[str, Any], app: str = "ichigo", progress_polls: int = 1):
        self.obj = copy.deepcopy(obj)
        self.obj.setdefault("metadata", {})["generation"] = 1
        self.app, self.progress_polls = app, progress_polls
        self.fail_versions: set[str] = set()
        self.calls: list[dict[str, Any]] = []
        self._pending = 0
        self._set_status("RUNNING")
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeKube":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def serve_args(self) -> dict[str, Any]:
        cfg = yaml.safe_load(self.obj["spec"]["serveConfigV2"])
        return next(a for a in cfg["applications"] if a["name"] == self.app).get("args", {})

    def _set_status(self, app_state: str) -> None:
        self.obj["status"] = {
            "observedGeneration": self.obj["metadata"]["generation"],
            "activeServiceStatus": {"applicationStatuses": {self.app: {"status": app_state}}},
        }

    def _on_get(self) -> None:
        if self._pending > 0:
            self._pending -= 1
            return
        version = str(self.serve_args().get("model_version"))
        self._set_status("DEPLOY_FAILED" if version in self.fail_versions else "RUNNING")

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # keep test output quiet
                pass

            def _reply(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method: str) -> dict[str, Any] | None:
                m = PATH.match(self.path)
                call = {"method": method, "path": self.path, "content_type": self.headers.get("Content-Type"),
                        **(m.groupdict() if m else {})}
                fake.calls.append(call)
                meta = fake.obj["metadata"]
                if not m or (m["group"], m["plural"], m["ns"], m["name"]) != (
                        "ray.io", "rayservices", meta.get("namespace"), meta.get("name")):
                    self._reply(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
                    return None
                return call

            def do_GET(self):
                with fake._lock:
                    if self._route("GET") is None:
                        return
                    fake._on_get()
                    self._reply(200, fake.obj)

            def do_PATCH(self):
                with fake._lock:
                    if self._route("PATCH") is None:
                        return
                    body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                    if self.headers.get("Content-Type") != "application/merge-patch+json":
                        self._reply(415, {"kind": "Status", "code": 415})
                        return
                    before = fake.obj.get("spec")
                    fake.obj = merge_patch(fake.obj, body)
                    if fake.obj.get("spec") != before:
                        fake.obj["metadata"]["generation"] += 1
                        fake._pending = fake.progress_polls
                        fake.obj["status"]["activeServiceStatus"]["applicationStatuses"][fake.app] = {
                            "status": "DEPLOYING"}
                    self._reply(200, fake.obj)

        return Handler


def custom_objects_api(url: str):
    from kubernetes import client

    conf = client.Configuration(host=url)
    return client.CustomObjectsApi(client.ApiClient(conf))
