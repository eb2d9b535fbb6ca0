"""Ports for the servers the tests start (Airflow standalone and its log servers), safe when
pytest-xdist runs several tests at once.

Not `bind(("127.0.0.1", 0))`: that hands out a port of the kernel's ephemeral range, which is free
again once the probe socket closes, and any outgoing connection on the machine (the other worker's
Spark and py4j, an HTTP client, the Airflow CLI) may be given it before the server binds it, a
minute later.  The ports just below the ephemeral range are never handed out implicitly; each
xdist worker draws from its own slice of them, so two workers never pick the same one, and a port
something listens on is skipped.  A process never gets the same port twice.
"""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

SPAN = 10_000  # ports below the ephemeral range to draw from (20768-32767 on Linux defaults)
_given: set[int] = set()
_random = random.SystemRandom()  # not the global generator, which tests seed


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("", port))  # all interfaces: the Airflow log servers bind there
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port nothing listens on, from this worker's slice of the ports below the ephemeral range."""
    top = _ephemeral_low()
    if top - SPAN < 10_000:  # an unusual ephemeral range: fall back to the kernel's choice
        while True:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in _given:
                _given.add(port)
                return port
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    worker = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
    size = SPAN // max(workers, 1)
    low = top - SPAN + (worker % max(workers, 1)) * size
    for _ in range(200):
        port = _random.randrange(low, low + size)
        if port not in _given and _bindable(port):
            _given.add(port)
            return port
    raise RuntimeError(f"no free port in {low}-{low + size - 1}")
