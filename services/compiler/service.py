"""The compiler's gRPC API (``outlayer.v1.CompilerService``)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import grpc

from outlayer.errors import ErrorCode, OutlayerError, invalid_argument
from outlayer.v1 import compiler_pb2 as pb
from outlayer.v1 import compiler_pb2_grpc
from services.compiler.builder import FAILED, IN_PROGRESS, READY, CompileOutcome, Compiler
from services.compiler.cache import CacheEntry, stamp

CHUNK_BYTES = 1024 * 1024
COMPILERS = frozenset({"coordinator", "operator"})
READERS = frozenset({"coordinator", "executor", "operator"})
OPERATORS = frozenset({"operator"})
# Who may call what (the mesh interceptor checks the caller's certificate against it).
PERMISSIONS = {
    "Compile": COMPILERS,
    "GetModule": READERS,
    "ListCache": COMPILERS,  # the coordinator publishes its totals (/public/compile-cache)
    "Evict": OPERATORS,
}
_STATUS = {
    READY: pb.COMPILE_STATUS_READY,
    IN_PROGRESS: pb.COMPILE_STATUS_IN_PROGRESS,
    FAILED: pb.COMPILE_STATUS_FAILED,
}


class CompilerService(compiler_pb2_grpc.CompilerServiceServicer):
    def __init__(self, compiler: Compiler, share_hidden_logs: bool = False) -> None:
        self._compiler = compiler
        # Raw build output goes back to the coordinator (for system_hidden_logs) only when
        # operators turned SAVE_SYSTEM_HIDDEN_LOGS_TO_DEBUG on.
        self._share_hidden_logs = share_hidden_logs

    def Compile(self, request: pb.CompileRequest, context: grpc.ServicerContext) -> pb.CompileReply:
        ref = request.source
        wait = request.wait_seconds
        if not math.isfinite(wait) or wait < 0:
            wait = 0.0
        wait = min(wait, self._compiler.settings.max_compile_wait_seconds)
        outcome = self._compiler.compile(
            ref.repo, ref.commit, ref.branch, ref.tag, for_execution=request.for_execution,
            wait_seconds=wait,
        )  # fmt: skip
        return compile_reply(outcome, self._share_hidden_logs)

    def GetModule(
        self, request: pb.GetModuleRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.ModuleChunk]:
        checksum = request.checksum.removeprefix("sha256:")
        wasm = self._compiler.cache.read(checksum)
        if wasm is None:
            raise OutlayerError(ErrorCode.NOT_FOUND, f"no module sha256:{checksum} is cached")
        for offset in range(0, len(wasm), CHUNK_BYTES):
            yield pb.ModuleChunk(data=wasm[offset : offset + CHUNK_BYTES])

    def ListCache(
        self, request: pb.ListCacheRequest, context: grpc.ServicerContext
    ) -> pb.ListCacheReply:
        entries = self._compiler.cache.entries()
        return pb.ListCacheReply(
            entries=[cache_entry(e) for e in entries],
            total_bytes=sum(e.size_bytes for e in entries),
        )

    def Evict(self, request: pb.EvictRequest, context: grpc.ServicerContext) -> pb.EvictReply:
        if not request.checksum:
            raise invalid_argument("Evict needs the checksum of a cached module")
        return pb.EvictReply(evicted=self._compiler.cache.evict(request.checksum))


def compile_reply(outcome: CompileOutcome, with_hidden_log: bool = False) -> pb.CompileReply:
    source = outcome.source
    reply = pb.CompileReply(
        status=_STATUS[outcome.status],
        source=pb.SourceRef(
            repo=source.repo, commit=source.commit, branch=source.branch, tag=source.tag
        ),
        cache_key=source.cache_key if source.commit else "",
        estimated_seconds=outcome.estimated_seconds,
        retry_after_seconds=outcome.retry_after_seconds,
        phase=outcome.phase,
        started_build=outcome.started_build,
    )
    if outcome.entry is not None:
        reply.checksum = outcome.entry.checksum
        reply.size_bytes = outcome.entry.size_bytes
        reply.build.CopyFrom(build_info(outcome.entry.build))
    if outcome.failure is not None:
        reply.error.CopyFrom(
            pb.CompileError(type=outcome.failure.category.value, message=outcome.failure.message)
        )
        if with_hidden_log:
            reply.hidden_log = outcome.failure.hidden_log
    return reply


_BUILD_FIELDS = set(pb.BuildInfo.DESCRIPTOR.fields_by_name)


def build_info(build: dict[str, Any]) -> pb.BuildInfo:
    """A cached module's build metadata on the wire (the cache's JSON has the same names)."""
    return pb.BuildInfo(**{k: v for k, v in build.items() if k in _BUILD_FIELDS})


def build_json(info: pb.BuildInfo) -> dict[str, Any]:
    return {
        field.name: list(getattr(info, field.name))
        if field.is_repeated
        else getattr(info, field.name)
        for field in pb.BuildInfo.DESCRIPTOR.fields
    }


def cache_entry(entry: CacheEntry) -> pb.CacheEntry:
    return pb.CacheEntry(
        checksum=entry.checksum,
        repo=entry.repo,
        commit=entry.commit,
        size_bytes=entry.size_bytes,
        compiled_at=stamp(entry.compiled_at),
        first_seen=stamp(entry.first_seen),
        last_used=stamp(entry.last_used),
        execution_count=entry.execution_count,
    )
