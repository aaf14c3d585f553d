"""A content-addressed store of WASM modules: ``<dir>/<sha256>.wasm``.

Until the compiler service lands, jobs name their module by checksum in this store; the
compiler's cache will be the same layout.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from outlayer.errors import invalid_argument

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class WasmStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def put(self, wasm: bytes) -> str:
        digest = hashlib.sha256(wasm).hexdigest()
        path = self.path(digest)
        if not path.is_file():
            self.directory.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.tmp")
            partial.write_bytes(wasm)
            partial.replace(path)
        return digest

    def get(self, digest: str) -> bytes | None:
        path = self.path(digest)
        if not path.is_file():
            return None
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:  # damaged on disk: never run it
            return None
        return data

    def path(self, digest: str) -> Path:
        if not _SHA256.match(digest):
            raise invalid_argument(f"{digest!r} is not a SHA-256 checksum (64 lowercase hex)")
        return self.directory / f"{digest}.wasm"
