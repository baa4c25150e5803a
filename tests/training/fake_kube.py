"""A local HTTP server that answers like the Kubernetes API for the TrainJob path: create/get
TrainJobs (status advancing one step per GET), list the trainer pods, serve a pod log. It records
every (api group, resource, verb) it receives."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

_CUSTOM = re.compile(r"^/apis/([^/]+)/([^/]+)/namespaces/([^/]+)/([^/]+)(?:/([^/]+))?$")
_PODS = re.compile(r"^/api/v1/namespaces/([^/]+)/pods(?:/([^/]+)(/log)?)?$")


def cond(type_: str, status: str = "True", reason: str = "", message: str = "", t: int = 0) -> dict:
    return {"type": type_, "status": status, "reason": reason or type_, "message": message,
            "lastTransitionTime": f"2025-01-01T00:00:{t:02d}Z"}


SUCCESS = [[], [cond("Created", t=1)], [cond("Created", t=1), cond("Running", t=2)],
           [cond("Created", t=1), cond("Running", "False", t=3), cond("Complete", reason="JobsCompleted",
                                                                      message="TrainJob completed", t=3)]]
FAILURE = [[cond("Created", t=1)], [cond("Created", t=1), cond("Running", t=2)],
           [cond("Created", t=1), cond("Failed", reason="FailedJobs",
                                       message="node-0 exited with code 137 (OOMKilled)", t=3)]]


class FakeKube:
    def __init__(self, script: list[list[dict]], log_text: str = ""):
        self.script, self.log_text = script, log_text
        self.objects: dict[str, dict] = {}
        self.gets = 0
        self.calls: list[tuple[str, str, str]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def _send(self, code: int, body, ctype: str = "application/json") -> None:
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                m = _CUSTOM.match(urlparse(self.path).path)
                if not m or m.group(5):
                    return self._send(404, {"kind": "Status", "code": 404})
                group, _, ns, plural, _ = m.groups()
                fake.calls.append((group, plural, "create"))
                obj = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                name = obj["metadata"]["name"]
                if name in fake.objects:
                    return self._send(409, {"kind": "Status", "code": 409, "reason": "AlreadyExists"})
                obj["metadata"].update(uid="0000-1111", namespace=ns, creationTimestamp="2025-01-01T00:00:00Z")
                fake.objects[name] = obj
                return self._send(201, obj)

            def do_GET(self):
                u = urlparse(self.path)
                q = parse_qs(u.query)
                if m := _CUSTOM.match(u.path):
                    group, _, _, plural, name = m.groups()
                    verb = "get" if name else ("watch" if q.get("watch") == ["true"] else "list")
                    fake.calls.append((group, plural, verb))
                    if name not in fake.objects:
                        return self._send(404, {"kind": "Status", "code": 404, "reason": "NotFound"})
                    obj = dict(fake.objects[name])
                    conds = fake.script[min(fake.gets, len(fake.script) - 1)]
                    fake.gets += 1
                    if conds:
                        obj["status"] = {"conditions": conds}
                    return self._send(200, obj)
                if m := _PODS.match(u.path):
                    ns, pod, log = m.groups()
                    if pod is None:
                        fake.calls.append(("", "pods", "list"))
                        sel = q.get("labelSelector", [""])[0]
                        job = sel.split("=", 1)[1] if "=" in sel else ""
                        items = []
                        if job in fake.objects and fake.gets >= 2:
                            labels = {"jobset.sigs.k8s.io/jobset-name": job,
                                      "batch.kubernetes.io/job-completion-index": "0"}
                            items.append({"metadata": {"name": f"{job}-node-0-0-abcde", "namespace": ns,
                                                       "labels": labels}, "status": {"phase": "Running"}})
                        return self._send(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {},
                                                "items": items})
                    if log:
                        fake.calls.append(("", "pods/log", "get"))
                        return self._send(200, fake.log_text, "text/plain")
                    fake.calls.append(("", "pods", "get"))
                return self._send(404, {"kind": "Status", "code": 404})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FakeKube":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
