"""A job's module: named by checksum, or compiled from its code source by the compiler service.

A source the compiler has built gives its checksum at once. Otherwise the job ends before it
runs: ``compilation_in_progress`` (with when to ask again) while the compiler builds in the
background, or the compiler's failure category. Either way nothing is charged (see billing).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import grpc

from outlayer.errors import ErrorCode, ExecutionErrorType, OutlayerError, error_from_rpc
from outlayer.result import CompilationProgress, ExecutionResult
from outlayer.v1 import compiler_pb2, compiler_pb2_grpc

COMPILE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Resolution:
    checksum: str | None  # the module to run
    commit: str  # the commit the source resolved to (a branch or tag's, at this moment)
    decided: dict[str, Any] | None = None  # or the result that ends the job unrun
    hidden_log: str = ""  # the failed build's raw output, for system_hidden_logs


class ModuleResolver:
    def __init__(self, compiler: compiler_pb2_grpc.CompilerServiceStub | None) -> None:
        self._compiler = compiler

    def resolve(self, repo: str, commit: str = "", branch: str = "", tag: str = "") -> Resolution:
        if self._compiler is None:
            return Resolution(None, commit, ExecutionResult.failure(
                ExecutionErrorType.COMPILATION_ERROR,
                "this platform builds no code sources (no compiler service is configured: "
                "coordinator.compiler); name a module by its wasm_sha256 instead",
            ).to_json())  # fmt: skip
        request = compiler_pb2.CompileRequest(
            source=compiler_pb2.SourceRef(repo=repo, commit=commit, branch=branch, tag=tag),
            for_execution=True,
        )
        try:
            reply = self._compiler.Compile(request, timeout=COMPILE_TIMEOUT_S)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, "the compiler") from None
        resolved = reply.source.commit or commit
        if reply.status == compiler_pb2.COMPILE_STATUS_READY:
            return Resolution(reply.checksum, resolved)
        if reply.status == compiler_pb2.COMPILE_STATUS_IN_PROGRESS:
            progress = CompilationProgress(
                reply.estimated_seconds, reply.retry_after_seconds, reply.cache_key
            )
            message = (
                f"{repo} at {resolved[:12]} is being compiled (about "
                f"{reply.estimated_seconds:.0f} s in all); send the request again in "
                f"{reply.retry_after_seconds:.0f} s"
            )
            result = ExecutionResult.failure(
                ExecutionErrorType.COMPILATION_IN_PROGRESS, message, compilation=progress
            )
            return Resolution(None, resolved, result.to_json())
        if reply.status == compiler_pb2.COMPILE_STATUS_FAILED:
            try:
                category = ExecutionErrorType(reply.error.type)
            except ValueError:
                category = ExecutionErrorType.COMPILATION_ERROR
            result = ExecutionResult.failure(category, reply.error.message)
            return Resolution(None, resolved, result.to_json(), reply.hidden_log)
        raise OutlayerError(ErrorCode.INTERNAL, f"the compiler answered status {reply.status}")
