"""A job's module: named by checksum, or compiled from its code source by the compiler service.

A source the compiler has built gives its checksum at once. A source that is building:

- compile, then run: when the job has a start deadline (the request's window: NEAR resumes a
  yielded call within 200 blocks; an HTTPS call's wait) and the build's estimate fits well
  inside it, the job waits for the build (status ``compiling``, see :class:`CompileWaiter`)
  and then runs; the request that started the build pays its CPU time (``compile_ms``);
- otherwise, or still building at the deadline, the job ends unrun with
  ``compilation_in_progress`` and its structured fields (estimate, retry hint, cache key).

A source that cannot be built ends the job with the compiler's failure category. A job that
never ran is charged no execution (see billing).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc

from outlayer.errors import ErrorCode, ExecutionErrorType, OutlayerError, error_from_rpc
from outlayer.result import CompilationProgress, ExecutionResult
from outlayer.v1 import compiler_pb2, compiler_pb2_grpc
from services.coordinator.queue import JobQueue

COMPILE_TIMEOUT_S = 30.0
_LOG = logging.getLogger("outlayer.coordinator")


# Compile-then-run waits only when the estimate fits the window with room to spare.
ESTIMATE_SAFETY = 1.5
WAIT_SLICE_S = 20.0  # one Compile call's wait (the compiler caps it too)


@dataclass(frozen=True)
class Resolution:
    checksum: str | None  # the module to run
    commit: str  # the commit the source resolved to (a branch or tag's, at this moment)
    decided: dict[str, Any] | None = None  # or the result that ends the job unrun
    hidden_log: str = ""  # the failed build's raw output, for system_hidden_logs
    compiling: bool = False  # building, and expected in time: the job waits for it
    started_build: bool = False  # this job's request started the build (it pays for it)
    compile_ms: int = 0  # when ready: the build's CPU time


class ModuleResolver:
    def __init__(self, compiler: compiler_pb2_grpc.CompilerServiceStub | None) -> None:
        self._compiler = compiler

    def resolve(
        self, repo: str, commit: str = "", branch: str = "", tag: str = "", *, deadline: float = 0.0
    ) -> Resolution:
        """``deadline``: unix seconds by which the job must start (0: do not wait)."""
        if self._compiler is None:
            return Resolution(None, commit, ExecutionResult.failure(
                ExecutionErrorType.COMPILATION_ERROR,
                "this platform builds no code sources (no compiler service is configured: "
                "coordinator.compiler); name a module by its wasm_sha256 instead",
            ).to_json())  # fmt: skip
        reply = self._compile(repo, commit, branch, tag, 0.0)
        resolved = reply.source.commit or commit
        if reply.status == compiler_pb2.COMPILE_STATUS_IN_PROGRESS:
            remaining = max(reply.estimated_seconds, 1.0)
            if deadline and time.time() + remaining * ESTIMATE_SAFETY < deadline:
                return Resolution(None, resolved, compiling=True,
                                  started_build=reply.started_build)  # fmt: skip
        return self._resolution(repo, resolved, reply)

    def wait(self, repo: str, commit: str, deadline: float) -> Resolution:
        """Follows a build until it is done or ``deadline`` passes (the job then ends with
        compilation_in_progress)."""
        while True:
            left = deadline - time.time()
            reply = self._compile(repo, commit, "", "", max(min(left, WAIT_SLICE_S), 0.0))
            if reply.status != compiler_pb2.COMPILE_STATUS_IN_PROGRESS or left <= 0:
                return self._resolution(repo, reply.source.commit or commit, reply)

    def list_cache(self) -> compiler_pb2.ListCacheReply:
        """The compiler's module cache (for the public compile-cache figures)."""
        if self._compiler is None:
            raise OutlayerError(
                ErrorCode.UNAVAILABLE, "no compiler service is configured (coordinator.compiler)"
            )
        try:
            reply: compiler_pb2.ListCacheReply = self._compiler.ListCache(
                compiler_pb2.ListCacheRequest(), timeout=5.0
            )
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, "the compiler") from None
        return reply

    def _compile(
        self, repo: str, commit: str, branch: str, tag: str, wait_seconds: float
    ) -> compiler_pb2.CompileReply:
        assert self._compiler is not None
        request = compiler_pb2.CompileRequest(
            source=compiler_pb2.SourceRef(repo=repo, commit=commit, branch=branch, tag=tag),
            for_execution=True,
            wait_seconds=wait_seconds,
        )
        try:
            reply: compiler_pb2.CompileReply = self._compiler.Compile(
                request, timeout=COMPILE_TIMEOUT_S + wait_seconds
            )
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, "the compiler") from None
        return reply

    @staticmethod
    def _resolution(repo: str, resolved: str, reply: compiler_pb2.CompileReply) -> Resolution:
        if reply.status == compiler_pb2.COMPILE_STATUS_READY:
            return Resolution(reply.checksum, resolved, compile_ms=reply.build.compile_ms)
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


class CompileWaiter:
    """Moves ``compiling`` jobs on: queued with their module once built, or ended unrun (the
    build failed, or its deadline passed). Each job is followed by one task that ends with it;
    jobs already compiling when the coordinator starts are picked up again (``resume``)."""

    def __init__(
        self,
        queue: JobQueue,
        modules: ModuleResolver,
        workers: int = 8,
        *,
        hidden_logs: Callable[[int, str], None] | None = None,
    ) -> None:
        self._queue = queue
        self._modules = modules
        # Keeps a failed build's raw output for the job (system_hidden_logs), when operators
        # turned that on.
        self._hidden_logs = hidden_logs
        self._pool = ThreadPoolExecutor(workers, "compile-wait")
        self._following: set[int] = set()
        self._lock = threading.Lock()

    def resume(self) -> None:
        """Follows every job the database says is compiling (after a restart)."""
        for job_id, spec in self._queue.compiling():
            self.follow(job_id, spec)

    def follow(self, job_id: int, spec: dict[str, Any]) -> None:
        with self._lock:
            if job_id in self._following:
                return
            self._following.add(job_id)
        self._pool.submit(self._follow, job_id, spec)

    def _follow(self, job_id: int, spec: dict[str, Any]) -> None:
        source = spec.get("code_source") or {}
        repo, commit = str(source.get("repo", "")), str(source.get("commit", ""))
        deadline = float(spec.get("start_deadline_unix") or 0)
        try:
            while True:
                try:
                    resolution = self._modules.wait(repo, commit, deadline)
                    break
                except OutlayerError as exc:  # the compiler is unreachable: ask again
                    if time.time() >= deadline:
                        resolution = Resolution(None, commit, _still_compiling(repo, commit))
                        break
                    _LOG.warning("job %s: %s; asking the compiler again", job_id, exc)
                    time.sleep(min(2.0, max(deadline - time.time(), 0.0)))
            if resolution.checksum:
                paid = resolution.compile_ms if spec.get("build_started") else 0
                self._queue.compiled(job_id, {"wasm_sha256": resolution.checksum,
                                              "compile_ms": paid})  # fmt: skip
            else:
                assert resolution.decided is not None
                if resolution.hidden_log and self._hidden_logs is not None:
                    self._hidden_logs(job_id, resolution.hidden_log)
                self._queue.finish_unrun(job_id, resolution.decided)
        except Exception:
            _LOG.exception("following job %s's build failed", job_id)
        finally:
            with self._lock:
                self._following.discard(job_id)


def _still_compiling(repo: str, commit: str) -> dict[str, Any]:
    message = (f"{repo} at {commit[:12]} was still compiling when this request's window closed; "
               "send the request again in a minute")  # fmt: skip
    progress = CompilationProgress(0.0, 60.0, "")
    return ExecutionResult.failure(
        ExecutionErrorType.COMPILATION_IN_PROGRESS, message, compilation=progress
    ).to_json()
