"""A localnet serving NEAR JSON-RPC on a free loopback port, for tests that talk to it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from localnet.genesis import new_chain
from localnet.rpc import LocalnetNode, make_server
from outlayer.near.keys import Signer


@contextmanager
def running_localnet(directory: Path, block_time_s: float = 0.05) -> Iterator[tuple[str, Signer]]:
    """Yields (RPC URL, root signer); the root key is ``directory/root.json``."""
    chain, root = new_chain(directory / "root.json")
    node = LocalnetNode(chain, block_time_s=block_time_s)
    server = make_server(node, "127.0.0.1", 0)
    node.start()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        node.stop()
