"""The executor's worker loop: lease a job from the coordinator, run it, heartbeat, complete.

One runner per executor process; it runs up to ``max_concurrent`` jobs at once (one lease per
slot). A job whose module is missing from the WASM store fails with ``invalid_wasm`` (not
retried); anything unexpected gives the job back to be retried elsewhere.
"""

from __future__ import annotations

import logging
import threading
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


class JobRunner:
    def __init__(
        self,
        executor: Executor,
        channel: grpc.Channel,
        token: str,
        store: WasmStore | ModuleSource,
        secrets: KeystoreSecrets | None = None,
    ) -> None:
        self._secrets = secrets
        self._executor = executor
        self._stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._store = store

    def run_once(self, wait_s: float = 0.0) -> RunOutcome | None:
        """Leases and runs one job (waiting up to ``wait_s`` for one); None when there is none."""
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
        stop = threading.Event()
        beats = threading.Thread(
            target=self._heartbeat, args=(lease.job_id, lease.lease_seconds, stop), daemon=True
        )
        beats.start()
        try:
            result, hidden_log = self._execute(lease)
        except GiveBack as exc:  # another attempt may succeed (keystore down, grant expired)
            log.warning("giving job %s back: %s", lease.job_id, exc)
            stop.set()
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
            stop.set()
            self._stub.FailJob(
                pb.FailJobRequest(job_id=lease.job_id, message=str(exc), retryable=True),
                metadata=self._metadata,
            )
            raise
        finally:
            stop.set()
            beats.join()
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
        wasm = self._store.get(spec.wasm_sha256)
        if wasm is None:
            return ExecutionResult.failure(
                ExecutionErrorType.INVALID_WASM,
                f"module sha256:{spec.wasm_sha256} is not in the WASM store (nor on the compiler)",
            ), ""
        job = ExecutionJob(
            wasm=wasm,
            input=spec.input,
            env={**secrets, **guest_env(spec.origin, spec.limits)},  # the platform's always win
            limits=limits_from_proto(spec.limits),
            response_format=RESPONSE_FORMAT_FROM_PB.get(spec.response_format, ResponseFormat.TEXT),
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

    def _heartbeat(self, job_id: int, lease_seconds: float, stop: threading.Event) -> None:
        interval = max(lease_seconds / 3, 0.05)
        while not stop.wait(interval):
            try:
                reply = self._stub.Heartbeat(
                    pb.HeartbeatRequest(job_id=job_id), metadata=self._metadata
                )
            except grpc.RpcError:
                continue  # transient: the lease has slack for a missed beat
            if not reply.still_yours:
                log.warning("lost the lease on job %s; its result will not count twice", job_id)
                return
