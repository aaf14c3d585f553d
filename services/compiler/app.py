"""The compiler, assembled: the gRPC API over the builder, and the cache's eviction sweep."""

from __future__ import annotations

import sys
import threading

from outlayer.config import Settings
from services.compiler.server import build_server, eviction_policy, sweep_forever


def serve(settings: Settings, listen: str | None, stop: threading.Event) -> None:
    """Serves until ``stop`` is set."""
    server, port, compiler = build_server(settings, listen)
    server.start()
    config = settings.compiler
    sweeper = threading.Thread(
        target=sweep_forever,
        args=(compiler, eviction_policy(settings), config.eviction_interval_seconds, stop),
        daemon=True,
    )
    sweeper.start()
    print(f"outlayer compiler: serving on port {port} ({compiler.sandbox.name} sandbox, cache "
          f"{config.cache_dir})", file=sys.stderr, flush=True)  # fmt: skip
    stop.wait()
    server.stop(grace=2).wait()
    compiler.close()
