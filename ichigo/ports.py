"""Free TCP ports for servers that bind them later (HAProxy, test services, a gloo store).

A port picked with bind(("", 0)) comes from the kernel's ephemeral range, and any other process
binding port 0 (Ray starts many: workers, agents) can be handed the same number between the pick
and the server's own bind; CI once lost Ray Serve's HAProxy to exactly that ("cannot bind socket
(Address already in use)"). So ports come from outside that range and outside the worker ports
`ray start` uses (10002..19999), and are checked bindable on all interfaces.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

RAY_WORKER_PORTS_MAX = 19999
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LINUX_DEFAULT = (32768, 60999)
# handed out by this process: its servers may not have bound them yet, and random picks could repeat
_GIVEN: set[int] = set()


def ephemeral_range() -> tuple[int, int]:
    try:
        low, high = (int(x) for x in EPHEMERAL_RANGE.read_text().split())
    except (OSError, ValueError):
        return _LINUX_DEFAULT
    return low, high


def port_taken(host: str, port: int) -> bool:
    """Whether `port` cannot be bound on `host` ("" or "0.0.0.0": every interface)."""
    with socket.socket() as s:
        try:
            s.bind((host or "0.0.0.0", port))
        except OSError:
            return True
    return False


def _span() -> range:
    low, high = ephemeral_range()
    if low - RAY_WORKER_PORTS_MAX > 1000:
        return range(RAY_WORKER_PORTS_MAX + 1, low)
    if 65535 - high > 1000:
        return range(high + 1, 65536)
    return range(1024, 65536)  # (nearly) every port is ephemeral here: nothing is safer


def free_ports(n: int, rng: random.Random | None = None) -> list[int]:
    """`n` ports, free now, that no bind to port 0 will be handed and this process has not given out before."""
    rng = rng or random.Random()
    span = _span()
    picked: list[int] = []
    for port in rng.sample(span, min(len(span), 50 * n + 100)):
        if port not in _GIVEN and not port_taken("0.0.0.0", port):
            _GIVEN.add(port)
            picked.append(port)
            if len(picked) == n:
                return picked
    raise RuntimeError(f"found only {len(picked)} of {n} free ports in {span.start}..{span.stop - 1}")


def free_port() -> int:
    return free_ports(1)[0]
