"""Free loopback ports for the stacks tests and benchmarks start, never the defaults a user's
`make run` holds."""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

# Ports are picked below the kernel's ephemeral range: a port picked there (what binding port 0
# gives) may be taken, before the child binds it, as the local end of any outgoing connection
# on the machine, which a full test run makes thousands of (seen: a dev stack's coordinator that
# could not bind the port it was given). `make run`'s defaults (3030, 4317, 8443, 50060-50070)
# are outside this range, so a test's stack never takes a port a user's stack holds.
LOWEST = 10_000
UNSAFE_IN_BROWSERS = frozenset({10080})  # Chromium refuses to load pages from it (above LOWEST)
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_given: set[int] = set()  # never the same port twice from one process
_lock = threading.Lock()
_random = random.Random()  # seeded per process (from the OS), so parallel workers differ


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago, for a child process to bind (one that
    can bind port 0 itself should: this port may still be taken by another process picking
    ports before the child binds it, but not by the kernel for a connection)."""
    below = _ephemeral_start()
    with _lock:
        for _ in range(1000):
            port = _random.randrange(LOWEST, below) if below > LOWEST + 1000 else 0
            if port in _given or port in UNSAFE_IN_BROWSERS:
                continue
            found = _bindable(port)
            if found:
                _given.add(found)
                return found
    raise RuntimeError(f"no free TCP port on 127.0.0.1 between {LOWEST} and {below}")


def _ephemeral_start() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def _bindable(port: int) -> int:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return 0
        bound: int = sock.getsockname()[1]
        return bound
