"""Loopback ports and waiting for services."""

from __future__ import annotations

import itertools
import os
import socket
import time

#: Ports handed out lie below the kernel's ephemeral range (32768 and up by default), so a port
#: given to a process that has not bound it yet cannot be taken meanwhile by a server binding
#: port 0 or by an outgoing connection; each pytest-xdist worker has its own block, so two
#: workers never hand out the same port.
_BLOCK = 2500
_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
_first = 20000 + _BLOCK * (int(_worker[2:]) % 4 if _worker.startswith("gw") else 4)
_next = itertools.count((os.getpid() * 7) % _BLOCK)


def free_port() -> int:
    """A loopback port nothing listens on, not handed out before by this process."""
    for _ in range(_BLOCK):
        port = _first + next(_next) % _BLOCK
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port in {_first}-{_first + _BLOCK - 1}")


def wait_for_port(port: int, host: str = "127.0.0.1", timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
