"""`ichigo serve` (serving.cli.main): bad input fails before Ray starts; a real run serves."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

from serving.cli import main, parse_args
from ichigo.ports import free_port
from tests.conftest import REPO


def test_args_and_bad_model(tmp_path, capsys):
    a = parse_args(["--model", "x", "--no-follow", "--port", "9000"])
    assert (a.follow, a.port, a.profile) == (False, 9000, "local")
    assert parse_args([]).follow is True
    assert main(["--model", str(tmp_path)]) == 2
    assert "not an Ichigo model package" in capsys.readouterr().err
    assert main(["--profile", "nope", "--model", str(tmp_path)]) == 2


def test_port_in_use_fails_before_ray_starts(tiny_package, capsys):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["--model", str(tiny_package), "--host", "127.0.0.1", "--port", str(port)]) == 2
    assert f"port {port} on 127.0.0.1 is in use" in capsys.readouterr().err


@pytest.mark.slow
def test_serve_a_package_and_stop_on_sigint(tiny_package):
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "serving.cli", "--model", str(tiny_package),
                             "--port", str(port), "--no-follow"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + 240
        line = ""
        while time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline()
            if "is serving" in line:
                break
        assert f"http://127.0.0.1:{port}/" in line, line
        r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions",
                       json={"messages": [{"role": "user", "content": "hi"}]}, timeout=60)
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(timeout=60) == 0
        finally:
            if proc.poll() is None:
                proc.kill()


def test_no_keys_binds_loopback_only_and_says_so(tiny_package, capsys, monkeypatch):
    import socket

    monkeypatch.delenv("ICHIGO_API_KEYS", raising=False)
    monkeypatch.delenv("ICHIGO_API_KEYS_FILE", raising=False)
    with socket.socket() as s:  # the port is taken on 127.0.0.1: main stops before Ray starts
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["--model", str(tiny_package), "--host", "0.0.0.0", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert "serving on 127.0.0.1 only" in err and f"port {port} on 127.0.0.1 is in use" in err


def test_malformed_key_file_fails_naming_the_variable(tiny_package, tmp_path, capsys, monkeypatch):
    bad = tmp_path / "keys"
    bad.write_text("short\n")
    monkeypatch.setenv("ICHIGO_API_KEYS_FILE", str(bad))
    assert main(["--model", str(tiny_package), "--port", str(free_port())]) == 2
    assert "ICHIGO_API_KEYS_FILE" in capsys.readouterr().err
