"""`submit` against a local HTTP server that answers like the KFP v2beta1 API."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from pipelines.compile import compiled_path
from pipelines.submit import submit


class FakeKfp(BaseHTTPRequestHandler):
    calls: list = []
    fail_runs = False

    def _send(self, obj, code=200):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.calls.append(("GET", self.path.split("?")[0], None))
        self._send({})  # healthz ok; no experiment with that name yet

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.calls.append(("POST", self.path, body))
        if self.path.endswith("/experiments"):
            return self._send({"experiment_id": "exp-1", "display_name": body["display_name"]})
        if self.fail_runs:
            return self._send({"error": "pipeline spec invalid", "code": 3}, code=400)
        return self._send({"run_id": "run-42", "experiment_id": body["experiment_id"]})

    def log_message(self, *a):
        pass


@pytest.fixture()
def kfp_server():
    FakeKfp.calls, FakeKfp.fail_runs = [], False
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakeKfp)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_port}"
    srv.shutdown()


def test_submit_creates_experiment_and_run_with_the_compiled_spec(kfp_server):
    run = submit(compiled_path("h100"), kfp_server, experiment="speech", run_name="nightly")
    assert run.run_id == "run-42" and run.url.endswith("/#/runs/details/run-42")
    posts = [c for c in FakeKfp.calls if c[0] == "POST"]
    assert posts[0][1].endswith("/experiments") and posts[0][2]["display_name"] == "speech"
    body = posts[1][2]
    assert body["display_name"] == "nightly" and body["experiment_id"] == "exp-1"
    assert body["service_account"] == "ichigo-pipeline"
    assert body["pipeline_spec"]["pipeline_spec"]["pipelineInfo"]["name"] == "ichigo-speech-llm"


def test_submit_reports_server_rejection(kfp_server):
    FakeKfp.fail_runs = True
    with pytest.raises(Exception, match="400|pipeline spec invalid"):
        submit(compiled_path("h100"), kfp_server)


def test_submit_missing_package(tmp_path):
    with pytest.raises(FileNotFoundError, match="ichigo compile"):
        submit(tmp_path / "nope.yaml", "http://127.0.0.1:1")
