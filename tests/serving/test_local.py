"""Ports the local Ray instance gives HAProxy: never ones the kernel may hand to Ray's own binds."""

from __future__ import annotations

import random
import socket

import pytest

from serving import local


def test_haproxy_ports_avoid_the_ephemeral_range_and_ray_worker_ports():
    low, high = local.ephemeral_range()
    ports = local.reserved_ports(4)
    assert len(set(ports)) == 4
    for port in ports:
        assert not low <= port <= high
        assert port > local.RAY_WORKER_PORTS_MAX
        assert not local.port_taken("0.0.0.0", port)


def test_a_taken_port_is_skipped():
    rng_seed = 7
    first = local.reserved_ports(1, random.Random(rng_seed))[0]
    with socket.socket() as s:
        s.bind(("0.0.0.0", first))
        s.listen()
        again = local.reserved_ports(1, random.Random(rng_seed))[0]
    assert again != first


@pytest.mark.parametrize("text, span", [
    ("32768\t60999\n", (20000, 32767)),
    ("1024 50000", (50001, 65535)),   # ephemeral range starting low: above it
    ("1024 65000", (1024, 65535)),    # (nearly) all ports ephemeral: anywhere
    ("garbage", (20000, 32767)),      # unreadable: Linux's default range
])
def test_span_follows_the_kernel_range(tmp_path, monkeypatch, text, span):
    f = tmp_path / "ip_local_port_range"
    f.write_text(text)
    monkeypatch.setattr(local, "EPHEMERAL_RANGE", f)
    for port in local.reserved_ports(3, random.Random(1)):
        assert span[0] <= port <= span[1]
