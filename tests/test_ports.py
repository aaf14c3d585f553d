"""The ports tests and benchmarks give their stacks (devtools/ports.py)."""

from __future__ import annotations

import socket

from devtools import ports
from devtools.ports import free_port


def test_ports_are_free_distinct_and_below_the_kernels_ephemeral_range() -> None:
    # A port in the ephemeral range can be taken by any outgoing connection before the child
    # process that was given it binds it.
    below = ports._ephemeral_start()
    given = [free_port() for _ in range(200)]
    assert len(set(given)) == len(given)
    assert all(ports.LOWEST <= port < below for port in given)
    assert not set(given) & ports.UNSAFE_IN_BROWSERS
    for port in given[:20]:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))  # free, as promised


def test_a_port_in_use_is_never_given() -> None:
    listening = []
    try:
        for _ in range(50):
            sock = socket.socket()
            sock.bind(("127.0.0.1", free_port()))
            sock.listen()
            listening.append(sock)
        taken = {sock.getsockname()[1] for sock in listening}
        ports._given.difference_update(taken)  # forgotten: only the bind check stands
        assert not taken & {free_port() for _ in range(2000)}
    finally:
        for sock in listening:
            sock.close()
