"""A real compiler service for tests of the flows around it (the coordinator, HTTPS, on chain).

``warm`` puts modules in its cache as earlier builds would have (those tests are about what
happens after a build); the compiler's own tests build from a loopback git server.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from outlayer.config import Settings
from services.compiler.builder import Compiler
from services.compiler.cache import ModuleCache
from services.compiler.server import build_server
from services.compiler.sources import Source


def compiler_settings(
    settings: Settings, root: Path, allowed_hosts: Sequence[str] = (), **changes: object
) -> Settings:
    config = settings.compiler.model_copy(update={
        "cache_dir": root / "wasm", "work_dir": root / "builds",
        "package_cache_dir": root / "packages", "allowed_hosts": list(allowed_hosts), **changes,
    })  # fmt: skip
    return settings.model_copy(update={"compiler": config})


@contextmanager
def running_compiler(
    settings: Settings, root: Path, warm: dict[tuple[str, str], bytes] | None = None,
    allowed_hosts: Sequence[str] = (), **changes: object,
) -> Iterator[tuple[str, Compiler]]:  # fmt: skip
    """(its HOST:PORT, the engine behind it); ``settings.compiler.cache_dir`` is root/wasm."""
    configured = compiler_settings(settings, root, allowed_hosts, **changes)
    cache = ModuleCache(configured.compiler.cache_dir)
    for (repo, commit), wasm in (warm or {}).items():
        cache.put(Source(repo, commit), wasm, time.time(), 0.0)
    server, port, compiler = build_server(configured, "127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", compiler
    finally:
        server.stop(grace=None)
        compiler.close()
