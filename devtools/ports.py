"""Free loopback ports for the stacks tests and benchmarks start, never the defaults a user's
`make run` holds."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago, for a child process to bind (one that
    can bind port 0 itself should: this port may be taken again before the child binds it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
