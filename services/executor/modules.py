"""Where an executor gets a job's module: its local WASM store, else the compiler service.

An executor on another machine than the compiler fetches a module once, checks it against the
job's checksum (the compiler is trusted for availability, not for integrity) and keeps it.
"""

from __future__ import annotations

import hashlib
import threading

import grpc

from outlayer.v1 import compiler_pb2, compiler_pb2_grpc
from outlayer.wasmstore import WasmStore

FETCH_TIMEOUT_S = 60.0


class ModuleSource:
    def __init__(
        self, store: WasmStore, compiler: compiler_pb2_grpc.CompilerServiceStub | None = None
    ) -> None:
        self._store = store
        self._compiler = compiler
        # The runner's threads may want the same missing module at once: one fetch, one write.
        self._fetching = threading.Lock()

    def get(self, checksum: str) -> bytes | None:
        wasm = self._store.get(checksum)
        if wasm is not None or self._compiler is None:
            return wasm
        with self._fetching:
            return self._store.get(checksum) or self._fetch(checksum)

    def _fetch(self, checksum: str) -> bytes | None:
        assert self._compiler is not None
        try:
            chunks = self._compiler.GetModule(
                compiler_pb2.GetModuleRequest(checksum=checksum), timeout=FETCH_TIMEOUT_S
            )
            wasm = b"".join(chunk.data for chunk in chunks)
        except grpc.RpcError:
            return None
        if hashlib.sha256(wasm).hexdigest() != checksum:
            return None
        self._store.put(wasm)
        return wasm
