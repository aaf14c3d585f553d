"""Where an executor gets a job's module: its local WASM store, else the compiler service.

An executor on another machine than the compiler fetches a module once, checks it against the
job's checksum (the compiler is trusted for availability, not for integrity) and keeps it.
"""

from __future__ import annotations

import hashlib
import threading

import grpc

from outlayer.errors import ErrorCode, OutlayerError
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
        """The module, or None when the platform does not hold it; raises OutlayerError
        (UNAVAILABLE) when the compiler could not say."""
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
        except grpc.RpcError as exc:
            if exc.code() is grpc.StatusCode.NOT_FOUND:
                return None  # the platform does not hold it
            # Down, slow, or refusing us: not an answer about the module; another try may do.
            raise OutlayerError(
                ErrorCode.UNAVAILABLE,
                f"the compiler did not give module sha256:{checksum} ({exc.code().name})",
            ) from None
        if hashlib.sha256(wasm).hexdigest() != checksum:
            raise OutlayerError(
                ErrorCode.UNAVAILABLE,
                f"the compiler sent a module that is not sha256:{checksum}; not kept",
            )
        self._store.put(wasm)
        return wasm
