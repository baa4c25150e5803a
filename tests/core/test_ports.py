"""Ports for servers that bind later (HAProxy, test services): never ones the kernel may hand to a bind to port 0."""

from __future__ import annotations

import random
import socket

import pytest

from ichigo import ports


def test_ports_avoid_the_ephemeral_range_and_ray_worker_ports():
    low, high = ports.ephemeral_range()
    picked = ports.free_ports(4)
    assert len(set(picked)) == 4
    for port in picked:
        assert not low <= port <= high
        assert port > ports.RAY_WORKER_PORTS_MAX
        assert not ports.port_taken("0.0.0.0", port)


def test_a_taken_port_is_skipped(monkeypatch):
    first = ports.free_ports(1, random.Random(7))[0]
    monkeypatch.setattr(ports, "_GIVEN", set())  # only the bind can tell now
    with socket.socket() as s:
        s.bind(("0.0.0.0", first))
        s.listen()
        assert ports.free_ports(1, random.Random(7))[0] != first


def test_a_port_is_given_out_once_per_process():
    # the same random sequence twice: the second call must not repeat a port nobody has bound yet
    first = ports.free_ports(3, random.Random(11))
    assert not set(first) & set(ports.free_ports(3, random.Random(11)))


@pytest.mark.parametrize("text, span", [
    ("32768\t60999\n", (20000, 32767)),
    ("1024 50000", (50001, 65535)),   # ephemeral range starting low: above it
    ("1024 65000", (1024, 65535)),    # (nearly) all ports ephemeral: anywhere
    ("garbage", (20000, 32767)),      # unreadable: Linux's default range
])
def test_span_follows_the_kernel_range(tmp_path, monkeypatch, text, span):
    f = tmp_path / "ip_local_port_range"
    f.write_text(text)
    monkeypatch.setattr(ports, "EPHEMERAL_RANGE", f)
    for port in ports.free_ports(3, random.Random(1)):
        assert span[0] <= port <= span[1]
