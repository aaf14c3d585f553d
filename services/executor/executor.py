"""The executor's library API: validate a request, run it isolated, return an ExecutionResult."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import Any

from outlayer.config import Settings, load_settings
from outlayer.errors import ExecutionErrorType, invalid_argument
from outlayer.limits import RequestedLimits, resolve_limits
from outlayer.result import (
    ExecutionResult,
    ExecutionStatus,
    ResourcesUsed,
    ResponseFormat,
    render_output,
)
from services.executor._pool import Deadlines, HostAnswers, WorkerPool
from services.executor._protocol import encode_job
from services.executor._sandbox import (
    InvalidModule,
    ModuleCache,
    RawOutcome,
    SandboxJob,
    failed_outcome,
    make_engine,
    run_job,
)
from services.executor.capabilities import GuestServices, HostCalls

MAX_ENV_VARS = 256
MAX_ENV_BYTES = 64 * 1024


@dataclass(frozen=True)
class ExecutionJob:
    wasm: bytes
    input: bytes = b""
    env: Mapping[str, str] = field(default_factory=dict)
    limits: RequestedLimits = field(default_factory=RequestedLimits)
    response_format: ResponseFormat = ResponseFormat.TEXT
    # What the guest may reach through its host functions (None: nothing, every one is off).
    services: GuestServices | None = None


class Executor:
    """Runs jobs. ``isolated=True`` (the default, and the only mode services use) runs each job
    in its own pre-started process; ``isolated=False`` runs in this process, one at a time, and
    exists to measure what isolation costs."""

    def __init__(
        self, settings: Settings | None = None, *, isolated: bool = True, prestart: bool = True
    ) -> None:
        self.settings = settings or load_settings()
        self._isolated = isolated
        executor = self.settings.executor
        self._slots = threading.BoundedSemaphore(executor.max_concurrent)
        # A one-shot caller (the CLI) passes prestart=False: no spare worker to start and kill.
        self._pool = WorkerPool(executor.pool_size if prestart else 0) if isolated else None
        self._engine = None if isolated else make_engine()
        self._in_process_lock = threading.Lock()

    def execute(self, job: ExecutionJob) -> ExecutionResult:
        """Runs one job; raises OutlayerError for a request it refuses."""
        return self.execute_with_diagnostics(job)[0]

    def execute_with_diagnostics(self, job: ExecutionJob) -> tuple[ExecutionResult, str]:
        """The result, and the raw failure text for the operator's hidden logs ("" if none)."""
        sandbox_job = self._validate(job)
        host = (
            None if job.services is None else HostCalls(job.services, self.settings.executor.guest)
        )
        with self._slots:
            outcome = self._run(sandbox_job, job.wasm, host)
        result = to_result(outcome, job.response_format)
        if host is not None and host.usage:
            used = replace(result.resources_used, capabilities=dict(host.usage))
            result = replace(result, resources_used=used)
        return result, outcome.hidden_log

    def wait_warm(self, timeout: float = 60.0) -> bool:
        """Waits until every pre-started worker is ready (True at once when not isolated)."""
        return self._pool.wait_full(timeout) if self._pool is not None else True

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()

    def __enter__(self) -> Executor:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _validate(self, job: ExecutionJob) -> SandboxJob:
        if not job.wasm:
            raise invalid_argument("wasm is empty: send the bytes of a compiled WASI module")
        limits = resolve_limits(job.limits, self.settings.limits)
        env = validate_env(job.env)
        return SandboxJob(
            input=job.input,
            env=env,
            limits=limits,
            max_output_bytes=self.settings.executor.max_output_bytes,
            max_log_bytes=self.settings.executor.max_log_bytes,
        )

    def _run(self, job: SandboxJob, wasm: bytes, host: HostCalls | None) -> RawOutcome:
        cache_dir = self.settings.executor.module_cache_dir
        if self._pool is not None:
            executor = self.settings.executor
            deadlines = Deadlines(
                compile_seconds=executor.compile_timeout_seconds,
                run_seconds=job.limits.max_execution_seconds,
                kill_grace_seconds=executor.kill_grace_seconds,
            )
            payload = encode_job(job, wasm, str(cache_dir), host=host is not None)
            return self._pool.run(payload, deadlines, host)
        assert self._engine is not None
        with self._in_process_lock:  # epochs are per engine: one guest at a time here
            try:
                module = ModuleCache(cache_dir).load(self._engine, wasm).module
            except InvalidModule as exc:
                return failed_outcome(exc.error_type, str(exc))
            bridge = (
                None if host is None else _InProcessBridge(host, job.limits.max_execution_seconds)
            )
            return run_job(self._engine, module, job, bridge)


class _InProcessBridge:
    """Host calls answered in this process (``isolated=False``), within the run's time."""

    def __init__(self, host: HostAnswers, run_seconds: float) -> None:
        self._host = host
        self._ends = time.monotonic() + run_seconds

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        return self._host.answer(request, timeout=max(self._ends - time.monotonic(), 0.0))


def validate_env(env: Mapping[str, str]) -> dict[str, str]:
    if len(env) > MAX_ENV_VARS:
        raise invalid_argument(
            f"too many environment variables ({len(env)}; at most {MAX_ENV_VARS})"
        )
    total = 0
    for key, value in env.items():
        if not key or "=" in key or "\0" in key:
            raise invalid_argument(
                f"environment variable name {key!r} is invalid: it must be non-empty and "
                "contain neither '=' nor NUL"
            )
        if "\0" in value:
            raise invalid_argument(f"environment variable {key} contains a NUL character")
        total += len(key.encode()) + len(value.encode())
    if total > MAX_ENV_BYTES:
        raise invalid_argument(
            f"environment variables take {total} bytes; at most {MAX_ENV_BYTES} are allowed"
        )
    return dict(env)


def to_result(outcome: RawOutcome, response_format: ResponseFormat) -> ExecutionResult:
    used = ResourcesUsed(outcome.instructions, outcome.time_ms, outcome.memory_bytes)
    if outcome.error_type is not None:
        return ExecutionResult.failure(
            outcome.error_type, outcome.error_message, used, outcome.logs, outcome.exit_code
        )
    output, error = render_output(outcome.stdout, response_format)
    if error is not None:
        return ExecutionResult.failure(
            ExecutionErrorType.INVALID_OUTPUT, error.message, used, outcome.logs, outcome.exit_code
        )
    return ExecutionResult(
        status=ExecutionStatus.SUCCESS,
        output=output,
        resources_used=used,
        logs=outcome.logs,
        exit_code=outcome.exit_code,
        refund_usd=outcome.refund_usd,
    )
