"""The coordinator's gRPC API (``outlayer.v1.CoordinatorService``)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import grpc
from opentelemetry.metrics import Observation
from sqlalchemy import Engine

from outlayer.config import Settings
from outlayer.errors import ErrorCode, OutlayerError, invalid_argument
from outlayer.grants import issue_grant
from outlayer.grpcclient import open_channel
from outlayer.grpcserver import ServiceBinding, create_server
from outlayer.near.rpc import is_tx_hash
from outlayer.result import ExecutionResult
from outlayer.telemetry import meter
from outlayer.tls import Identity, identity_for
from outlayer.v1 import compiler_pb2_grpc, coordinator_pb2_grpc, public_pb2_grpc, storage_pb2_grpc
from outlayer.v1 import coordinator_pb2 as pb
from services.coordinator.admin import save_hidden_log
from services.coordinator.chain_mirror import ChainMirror
from services.coordinator.chain_requests import (
    record_resolve_attempt,
    record_resolved,
    record_submitted,
    resolve_attempts,
)
from services.coordinator.modules import CompileWaiter, ModuleResolver
from services.coordinator.public import PERMISSIONS as PUBLIC_PERMISSIONS
from services.coordinator.public import SLOW_METHODS as PUBLIC_SLOW_METHODS
from services.coordinator.public import PublicService
from services.coordinator.queue import JobQueue, JobState
from services.coordinator.request_earnings import record_request_earnings
from services.coordinator.settlement import Settlements
from services.coordinator.storage import PERMISSIONS as STORAGE_PERMISSIONS
from services.coordinator.storage import StorageService
from services.coordinator.submit import Submitter, spec_from_json
from services.coordinator.workers import authenticate

SERVICE_NAME = "outlayer.v1.CoordinatorService"
MAX_LEASE_WAIT_S = 10.0
PUBLIC_SERVICE_NAME = "outlayer.v1.PublicService"
STORAGE_SERVICE_NAME = "outlayer.v1.StorageService"
_METER = meter("outlayer.coordinator")
_FINISHED = _METER.create_counter("outlayer.jobs.finished", description="jobs completed, by status")
_INSTRUCTIONS = _METER.create_histogram("outlayer.job.instructions", unit="{instruction}")
_RUN_MS = _METER.create_histogram("outlayer.job.run_time", unit="ms")
SUBMITTERS = frozenset({"edge", "indexer"})
SETTLERS = frozenset({"edge", "indexer"})
EXECUTORS = frozenset({"executor"})  # and each must also present its worker token
CHAIN_FOLLOWERS = frozenset({"indexer"})
# Who may call what (the mesh interceptor checks the caller's certificate against it).
PERMISSIONS = {
    "SubmitJob": SUBMITTERS,
    "GetJob": SUBMITTERS,  # a job's spec and result are its submitter's
    "LeaseJob": EXECUTORS,
    "Heartbeat": EXECUTORS,
    "CompleteJob": EXECUTORS,
    "FailJob": EXECUTORS,
    "ListUnsettledJobs": SETTLERS,
    "AcknowledgeJob": SETTLERS,
    "ApplyChainChanges": CHAIN_FOLLOWERS,
    "ClaimSettlementBatch": CHAIN_FOLLOWERS,
    "RecordSettlementTransaction": CHAIN_FOLLOWERS,
    "RecordResolveAttempt": CHAIN_FOLLOWERS,
}


class CoordinatorService(coordinator_pb2_grpc.CoordinatorServiceServicer):
    def __init__(
        self,
        engine: Engine,
        queue: JobQueue,
        submitter: Submitter,
        *,
        lease_seconds: float,
        save_hidden_logs: bool = False,
        grant_signer: Identity | None = None,
        on_chain_change: Callable[[], None] | None = None,
    ) -> None:
        self._submitter = submitter
        self._grant_signer = grant_signer  # the coordinator's mesh identity signs secrets grants
        self._save_hidden_logs = save_hidden_logs
        self._engine = engine
        self._queue = queue
        self._lease_seconds = lease_seconds
        self._mirror = ChainMirror(engine, on_chain_change)
        self._settlements = Settlements(engine)

    def SubmitJob(
        self, request: pb.SubmitJobRequest, context: grpc.ServicerContext
    ) -> pb.SubmitJobResponse:
        submitted = self._submitter.submit(request.spec)
        # A request on chain: listed by its sender (chain_requests.py). A resubmission too,
        # in case the first one's coordinator stopped between the queue and this.
        record_submitted(self._engine, submitted.job_id, request.spec)
        return pb.SubmitJobResponse(job_id=submitted.job_id, created=submitted.created)

    def GetJob(self, request: pb.GetJobRequest, context: grpc.ServicerContext) -> pb.JobStatus:
        state = self._queue.get(request.job_id)
        if state is None:
            raise OutlayerError(ErrorCode.NOT_FOUND, f"no job {request.job_id}")
        return _status(state)

    def LeaseJob(
        self, request: pb.LeaseJobRequest, context: grpc.ServicerContext
    ) -> pb.LeaseJobResponse:
        worker = self._worker(context)
        if not math.isfinite(request.wait_seconds) or request.wait_seconds < 0:
            # NaN would make every comparison false: a wait that never ends, spinning
            raise invalid_argument(f"wait_seconds must be from 0 to {MAX_LEASE_WAIT_S:g}")
        wait = min(request.wait_seconds, MAX_LEASE_WAIT_S)
        if wait:
            # A worker that died while it waited must not be leased a job it will never hear of
            # (the job would wait out a whole lease, and lose an attempt, before it ran).
            leased = self._queue.lease_waiting(worker, wait, wanted=context.is_active)
        else:
            leased = self._queue.lease(worker)
        if leased is None:
            return pb.LeaseJobResponse(has_job=False)
        if not context.is_active():  # it went away as the job was leased: give the job back
            self._queue.release(leased.id, worker)
            return pb.LeaseJobResponse(has_job=False)
        spec = spec_from_json(leased.spec)
        reply = pb.LeaseJobResponse(
            has_job=True,
            job_id=leased.id,
            spec=spec,
            attempt=leased.attempt,
            lease_seconds=self._lease_seconds,
        )
        if spec.HasField("secrets_ref") and self._grant_signer is not None:
            ref = spec.secrets_ref
            reply.secrets_grant.CopyFrom(issue_grant(
                self._grant_signer, job_id=leased.id, account_id=ref.account_id,
                profile=ref.profile, repo=spec.code_source.repo, branch=ref.branch,
                requester=ref.requester,
            ))  # fmt: skip
        return reply

    def Heartbeat(
        self, request: pb.HeartbeatRequest, context: grpc.ServicerContext
    ) -> pb.HeartbeatResponse:
        worker = self._worker(context)
        return pb.HeartbeatResponse(still_yours=self._queue.heartbeat(request.job_id, worker))

    def CompleteJob(
        self, request: pb.CompleteJobRequest, context: grpc.ServicerContext
    ) -> pb.CompleteJobResponse:
        worker = self._worker(context)
        if not request.HasField("result"):
            raise invalid_argument("CompleteJob needs a result")
        result = ExecutionResult.from_proto(request.result).to_json()
        # Kept before the job completes: a caller woken by the completion finds it there.
        if self._save_hidden_logs and request.hidden_log and self._queue.get(request.job_id):
            save_hidden_log(self._engine, request.job_id, f"executor:{worker}", request.hidden_log)
        try:
            completion = self._queue.complete(request.job_id, worker, result)
            if completion.first:
                _FINISHED.add(1, {"status": str(result.get("status"))})
                used = result.get("resources_used") or {}
                _INSTRUCTIONS.record(int(used.get("instructions", 0)))
                _RUN_MS.record(int(used.get("time_ms", 0)))
        except KeyError:
            raise OutlayerError(ErrorCode.NOT_FOUND, f"no job {request.job_id}") from None
        stored = ExecutionResult.from_json(completion.result).to_proto()
        return pb.CompleteJobResponse(first=completion.first, result=stored)

    def FailJob(self, request: pb.FailJobRequest, context: grpc.ServicerContext) -> pb.JobStatus:
        worker = self._worker(context)
        try:
            state = self._queue.fail(
                request.job_id,
                worker,
                request.message or "the worker gave up",
                retryable=request.retryable,
            )
        except KeyError:
            raise OutlayerError(ErrorCode.NOT_FOUND, f"no job {request.job_id}") from None
        return _status(state)

    def ListUnsettledJobs(
        self, request: pb.ListUnsettledJobsRequest, context: grpc.ServicerContext
    ) -> pb.ListUnsettledJobsResponse:
        limit = min(request.limit or 50, 500)
        jobs = self._queue.unsettled(request.kind, limit)
        answer = pb.ListUnsettledJobsResponse(jobs=[_status(job) for job in jobs])
        attempts = resolve_attempts(self._engine, [job.job_id for job in answer.jobs])
        for job in answer.jobs:
            job.resolve_tx_hashes.extend(attempts.get(job.job_id, ()))
        return answer

    def AcknowledgeJob(
        self, request: pb.AcknowledgeJobRequest, context: grpc.ServicerContext
    ) -> pb.JobStatus:
        try:
            state = self._queue.acknowledge(request.job_id)
        except KeyError:
            raise OutlayerError(ErrorCode.NOT_FOUND, f"no job {request.job_id}") from None
        except ValueError as exc:
            raise invalid_argument(str(exc)) from None
        if request.resolved_on_chain:
            record_request_earnings(self._engine, request.job_id)
            record_resolved(self._engine, request.job_id, request.resolve_tx_hash, request.charged)
        return _status(state)

    def ApplyChainChanges(
        self, request: pb.ApplyChainChangesRequest, context: grpc.ServicerContext
    ) -> pb.ApplyChainChangesResponse:
        applied = self._mirror.apply(
            list(request.changes),
            contract_id=request.contract_id,
            height=request.block_height,
            timestamp_ns=request.block_timestamp_ns,
        )
        return pb.ApplyChainChangesResponse(applied=applied)

    def ClaimSettlementBatch(
        self, request: pb.ClaimSettlementBatchRequest, context: grpc.ServicerContext
    ) -> pb.SettlementBatch:
        return self._settlements.claim(request.chain_last_ledger_id, request.max_entries or 40)

    def RecordSettlementTransaction(
        self, request: pb.RecordSettlementTransactionRequest, context: grpc.ServicerContext
    ) -> pb.RecordSettlementTransactionResponse:
        if not request.tx_hash or not request.ledger_ids:
            raise invalid_argument("RecordSettlementTransaction needs ledger_ids and tx_hash")
        recorded = self._settlements.record_transaction(list(request.ledger_ids), request.tx_hash)
        return pb.RecordSettlementTransactionResponse(recorded=recorded)

    def RecordResolveAttempt(
        self, request: pb.RecordResolveAttemptRequest, context: grpc.ServicerContext
    ) -> pb.RecordResolveAttemptResponse:
        if not 0 < request.job_id < 2**63 or not is_tx_hash(request.tx_hash):
            raise invalid_argument(
                "RecordResolveAttempt needs a job_id and a tx_hash (base58, of 32 bytes)"
            )
        earlier = record_resolve_attempt(self._engine, request.job_id, request.tx_hash)
        return pb.RecordResolveAttemptResponse(earlier_tx_hashes=earlier)

    def _worker(self, context: grpc.ServicerContext) -> str:
        """The worker a call comes from, by its bearer token (the certificate is checked by
        the interceptor)."""
        metadata = dict(context.invocation_metadata())
        authorization = metadata.get("authorization")
        return authenticate(self._engine, authorization if isinstance(authorization, str) else None)


def _status(state: JobState) -> pb.JobStatus:
    message = pb.JobStatus(
        job_id=state.id,
        status=state.status.value,
        attempts=state.attempts,
        dedupe_key=state.dedupe_key,
        settled=state.settled,
    )
    if state.result is not None:
        message.result.CopyFrom(ExecutionResult.from_json(state.result).to_proto())
    return message


def build_server(
    settings: Settings, engine: Engine, listen: str | None = None
) -> tuple[grpc.Server, int]:
    coordinator = settings.coordinator
    queue = JobQueue(
        engine, lease_seconds=coordinator.lease_seconds, max_attempts=coordinator.max_attempts
    )
    _observe_queue(queue)
    modules = module_resolver(settings)
    keep_logs = settings.save_system_hidden_logs_to_debug
    waiter = CompileWaiter(queue, modules, hidden_logs=(
        (lambda job_id, text: save_hidden_log(engine, job_id, "compiler", text)) if keep_logs
        else None
    ))  # fmt: skip
    threading.Thread(target=waiter.resume, name="compile-resume", daemon=True).start()
    submitter = Submitter(engine, queue, modules, waiter, settings.limits,
                          save_hidden_logs=keep_logs)  # fmt: skip
    public_api = PublicService(engine, queue, settings, submitter, modules)
    servicer = CoordinatorService(
        engine,
        queue,
        submitter,
        lease_seconds=coordinator.lease_seconds,
        save_hidden_logs=keep_logs,
        grant_signer=identity_for(settings.tls, "coordinator"),
        # Keys and projects the chain changed are read afresh here at once (other replicas'
        # remembered copies expire within lookups.FRESH_FOR_S).
        on_chain_change=public_api.forget_remembered,
    )
    binding = ServiceBinding(
        SERVICE_NAME,
        coordinator_pb2_grpc.add_CoordinatorServiceServicer_to_server,
        servicer,
        PERMISSIONS,
    )
    public = ServiceBinding(
        PUBLIC_SERVICE_NAME,
        public_pb2_grpc.add_PublicServiceServicer_to_server,
        public_api,
        PUBLIC_PERMISSIONS,
        PUBLIC_SLOW_METHODS,  # waiting HTTPS calls never take the 32 threads executors use
    )
    storage = ServiceBinding(
        STORAGE_SERVICE_NAME,
        storage_pb2_grpc.add_StorageServiceServicer_to_server,
        StorageService(engine, coordinator),
        STORAGE_PERMISSIONS,
    )
    identity = identity_for(settings.tls, "coordinator")
    credentials = identity.server_credentials() if identity else None
    return create_server(listen or coordinator.listen, [binding, public, storage], 32, credentials)


_OBSERVED: list[JobQueue] = []


def _observe_queue(queue: JobQueue) -> None:
    """Gauges of the queue's state (queued, leased, done, failed), read when exported."""
    if not _OBSERVED:
        _METER.create_observable_gauge(
            "outlayer.jobs", callbacks=[_observe], description="jobs by status"
        )
    _OBSERVED.append(queue)


def _observe(_options: object) -> list[Observation]:
    observations: list[Observation] = []
    for queue in list(_OBSERVED):
        try:
            counts = queue.counts()
        except Exception:  # a queue whose database is gone (a stopped server): stop observing
            _OBSERVED.remove(queue)
            continue
        observations.extend(Observation(n, {"status": status}) for status, n in counts.items())
    return observations


def module_resolver(settings: Settings) -> ModuleResolver:
    """Resolves code sources through the configured compiler service (if any)."""
    target = settings.coordinator.compiler
    if not target:
        return ModuleResolver(None)
    channel = open_channel(target, settings.tls, "coordinator", "compiler")
    return ModuleResolver(compiler_pb2_grpc.CompilerServiceStub(channel))
