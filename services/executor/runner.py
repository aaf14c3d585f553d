"""The executor's worker loop: lease a job from the coordinator, run it, heartbeat, complete.

One runner per executor process; it runs up to ``max_concurrent`` jobs at once (one thread per
slot, each leasing one job at a time; see ``app.start_runner``). The leases held are kept by
one heartbeat thread for the whole runner, so no thread is started per job. A job whose module
is missing from the WASM store fails with ``invalid_wasm`` (not retried); anything unexpected
gives the job back to be retried elsewhere.
"""

from __future__ import annotations

import functools
import heapq
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc

from outlayer.errors import ErrorCode, ExecutionErrorType, OutlayerError
from outlayer.limits import limits_from_proto
from outlayer.platform_env import guest_env
from outlayer.result import RESPONSE_FORMAT_FROM_PB, ExecutionResult, ResponseFormat
from outlayer.telemetry import extract_context, tracer
from outlayer.v1 import coordinator_pb2 as pb
from outlayer.v1 import coordinator_pb2_grpc
from outlayer.wasmstore import WasmStore
from services.executor.capabilities.for_jobs import JobCapabilities
from services.executor.executor import ExecutionJob, Executor
from services.executor.modules import ModuleSource
from services.executor.secrets import KeystoreSecrets

log = logging.getLogger("outlayer.executor.runner")
# How long a finished job's result is offered to a coordinator that does not answer.
COMPLETE_RETRY_S = 300.0
_TRANSIENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
_TRACER = tracer("outlayer.executor")


class GiveBack(Exception):
    """The job cannot run here now; the coordinator retries it (bounded attempts)."""


@dataclass(frozen=True)
class RunOutcome:
    job_id: int
    result: ExecutionResult
    first: bool


class Heartbeats:
    """Keeps the leases of the jobs being run: every ``lease_seconds / 3`` each one's holder
    tells the coordinator it is still working on it. One thread for all of them, started when
    the first job is tracked; it only sends: ``send(job_id, timeout, done)`` starts one
    heartbeat and calls ``done(still_ours)`` when it is answered, so a slow answer for one job
    delays no other's. A lease found lost is no longer beaten."""

    def __init__(self, send: Callable[[int, float, Callable[[bool], None]], None]) -> None:
        self._send = send
        self._changed = threading.Condition()
        self._due: list[tuple[float, int]] = []  # (when, job id), a heap
        self._lease_s: dict[int, float] = {}  # the jobs tracked, and their lease times
        self._thread: threading.Thread | None = None

    def track(self, job_id: int, lease_seconds: float) -> None:
        with self._changed:
            self._lease_s[job_id] = lease_seconds
            heapq.heappush(self._due, (time.monotonic() + _interval(lease_seconds), job_id))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="job-heartbeats", daemon=True
                )
                self._thread.start()
            elif self._due[0][1] == job_id:
                self._changed.notify()  # due before what the thread waits for (else: no wake-up)

    def untrack(self, job_id: int) -> None:
        with self._changed:
            self._lease_s.pop(job_id, None)  # its entry in the heap is dropped when due

    def _run(self) -> None:
        while True:
            with self._changed:
                # Entries of jobs no longer tracked are dropped as they come up.
                while self._due and self._due[0][1] not in self._lease_s:
                    heapq.heappop(self._due)
                wait = self._due[0][0] - time.monotonic() if self._due else None
                if wait is None or wait > 0:
                    self._changed.wait(wait)
                    continue
                _, job_id = heapq.heappop(self._due)
                lease_s = self._lease_s[job_id]
                heapq.heappush(self._due, (time.monotonic() + _interval(lease_s), job_id))
            # A late answer is still worth having: it may come up to a lease's time later.
            self._send(job_id, lease_s, functools.partial(self._answered, job_id))

    def _answered(self, job_id: int, still_ours: bool) -> None:
        if not still_ours:
            self.untrack(job_id)


def _interval(lease_seconds: float) -> float:
    return max(lease_seconds / 3, 0.05)


class JobRunner:
    def __init__(
        self,
        executor: Executor,
        channel: grpc.Channel,
        token: str,
        store: WasmStore | ModuleSource,
        *,
        secrets: KeystoreSecrets | None = None,
        capabilities: JobCapabilities | None = None,
    ) -> None:
        """``capabilities``: what jobs' guests may reach (None: every host function is off)."""
        self._secrets = secrets
        self._capabilities = capabilities
        self._executor = executor
        self._stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._store = store
        self._heartbeats = Heartbeats(self._heartbeat)
        # The runner's threads take turns to wait for a job: one long poll at a time (as one
        # thread made), and the one that gets a job runs it while the next one waits.
        self._leasing = threading.Lock()

    def run_once(self, wait_s: float = 0.0) -> RunOutcome | None:
        """Leases and runs one job (waiting up to ``wait_s`` for one); None when there is none."""
        with self._leasing:
            lease = self._stub.LeaseJob(
                pb.LeaseJobRequest(wait_seconds=wait_s), metadata=self._metadata
            )
        if not lease.has_job:
            return None
        parent = extract_context(dict(lease.spec.trace_context))
        with _TRACER.start_as_current_span("outlayer.job.execute", context=parent) as span:
            span.set_attribute("outlayer.job_id", lease.job_id)
            span.set_attribute("outlayer.attempt", lease.attempt)
            outcome = self._run_leased(lease)
            span.set_attribute("outlayer.status", outcome.result.status.value)
            span.set_attribute("outlayer.instructions", outcome.result.resources_used.instructions)
            return outcome

    def _run_leased(self, lease: pb.LeaseJobResponse) -> RunOutcome:
        self._heartbeats.track(lease.job_id, lease.lease_seconds)
        try:
            result, hidden_log = self._execute(lease)
        except GiveBack as exc:  # another attempt may succeed (keystore down, grant expired)
            log.warning("giving job %s back: %s", lease.job_id, exc)
            self._heartbeats.untrack(lease.job_id)
            status = self._stub.FailJob(
                pb.FailJobRequest(job_id=lease.job_id, message=str(exc), retryable=True),
                metadata=self._metadata,
            )
            result = (
                ExecutionResult.from_proto(status.result)
                if status.HasField("result")
                else (ExecutionResult.failure(ExecutionErrorType.WORKER_FAILURE, str(exc)))
            )
            return RunOutcome(lease.job_id, result, False)
        except Exception as exc:  # an executor bug: give the job back to be retried
            log.exception("job %s failed inside the executor", lease.job_id)
            self._heartbeats.untrack(lease.job_id)
            self._stub.FailJob(
                pb.FailJobRequest(job_id=lease.job_id, message=str(exc), retryable=True),
                metadata=self._metadata,
            )
            raise
        finally:
            self._heartbeats.untrack(lease.job_id)
        done = self._complete(
            pb.CompleteJobRequest(
                job_id=lease.job_id, result=result.to_proto(), hidden_log=hidden_log
            )
        )
        return RunOutcome(lease.job_id, ExecutionResult.from_proto(done.result), done.first)

    def _complete(self, request: pb.CompleteJobRequest) -> pb.CompleteJobResponse:
        """Reports a result, again while the coordinator is unreachable (restarting): the job
        ran, and running it again elsewhere would cost what it already cost. Completion is
        idempotent (the first one wins), so a retry cannot count twice."""
        delay, waited = 0.5, 0.0
        while True:
            try:
                return self._stub.CompleteJob(request, metadata=self._metadata)
            except grpc.RpcError as exc:
                if exc.code() not in _TRANSIENT or waited >= COMPLETE_RETRY_S:
                    raise
                log.warning("coordinator unavailable (%s) reporting job %s; again in %g s",
                            exc.code(), request.job_id, delay)  # fmt: skip
                threading.Event().wait(delay)
                waited += delay
                delay = min(delay * 2, 5.0)

    def run_forever(self, stop: threading.Event, long_poll_s: float = 2.0) -> None:
        """Runs jobs until ``stop``; an idle runner long-polls the coordinator for the next one."""
        while not stop.is_set():
            try:
                self.run_once(wait_s=long_poll_s)
            except grpc.RpcError as exc:
                log.warning("coordinator unavailable (%s); retrying", exc.code())
                stop.wait(1.0)

    def _execute(self, lease: pb.LeaseJobResponse) -> tuple[ExecutionResult, str]:
        spec = lease.spec
        secrets: dict[str, str] = {}
        if spec.HasField("secrets_ref"):
            try:
                secrets = self._job_secrets(lease)
            except OutlayerError as exc:
                if exc.code is ErrorCode.ACCESS_CONDITION:
                    return ExecutionResult.failure(
                        ExecutionErrorType.SECRETS_ACCESS_DENIED, exc.message
                    ), ""
                if exc.code is ErrorCode.NOT_FOUND:
                    return ExecutionResult.failure(
                        ExecutionErrorType.SECRETS_NOT_FOUND, exc.message
                    ), ""
                if exc.code is ErrorCode.INVALID_ARGUMENT:
                    return ExecutionResult.failure(
                        ExecutionErrorType.SECRETS_INVALID, exc.message
                    ), ""
                raise GiveBack(exc.message) from None
        try:
            wasm = self._store.get(spec.wasm_sha256)
        except OutlayerError as exc:  # the compiler could not say: another attempt may
            raise GiveBack(exc.message) from None
        if wasm is None:
            return ExecutionResult.failure(
                ExecutionErrorType.MODULE_NOT_FOUND,
                f"module sha256:{spec.wasm_sha256} is not on this platform (neither in the WASM "
                "store nor among the compiler's builds): a wasm_sha256 version runs a module the "
                "platform has built; add a version from its code source instead",
            ), ""
        job = ExecutionJob(
            wasm=wasm,
            input=spec.input,
            env={**secrets, **guest_env(spec.origin, spec.limits)},  # the platform's always win
            limits=limits_from_proto(spec.limits),
            response_format=RESPONSE_FORMAT_FROM_PB.get(spec.response_format, ResponseFormat.TEXT),
            services=None
            if self._capabilities is None
            else self._capabilities.services(lease.job_id, spec, wasm),
        )
        try:
            return self._executor.execute_with_diagnostics(job)
        except OutlayerError as exc:  # the coordinator checks requests; this one slipped by
            return ExecutionResult.failure(
                ExecutionErrorType.WORKER_FAILURE, f"the executor refused the job: {exc.message}"
            ), ""

    def _job_secrets(self, lease: pb.LeaseJobResponse) -> dict[str, str]:
        if not lease.HasField("secrets_grant"):
            raise GiveBack("the coordinator issued no secrets grant (does it run with mTLS?)")
        if self._secrets is None:
            raise GiveBack("this executor has no keystore configured (executor.keystore)")
        return self._secrets.fetch(lease.secrets_grant)

    def _heartbeat(self, job_id: int, timeout: float, answered: Callable[[bool], None]) -> None:
        """Sends one heartbeat for ``job_id``; ``answered(False)`` once the lease is not ours."""

        def done(future: grpc.Future[pb.HeartbeatResponse]) -> None:
            try:
                still_yours = bool(future.result().still_yours)
            except grpc.RpcError:
                return  # transient: the lease has slack for a missed beat
            if not still_yours:
                log.warning("lost the lease on job %s; its result will not count twice", job_id)
            answered(still_yours)

        self._stub.Heartbeat.future(
            pb.HeartbeatRequest(job_id=job_id), metadata=self._metadata, timeout=timeout
        ).add_done_callback(done)
