"""The coordinator's gRPC API (``outlayer.v1.CoordinatorService``)."""

from __future__ import annotations

import math
import threading

import grpc
from google.protobuf import json_format
from opentelemetry.metrics import Observation
from sqlalchemy import Engine

from outlayer.config import LimitSettings, Settings
from outlayer.errors import ErrorCode, OutlayerError, invalid_argument
from outlayer.grants import issue_grant
from outlayer.grpcclient import open_channel
from outlayer.grpcserver import ServiceBinding, abort_with, create_server
from outlayer.limits import limits_from_proto, resolve_limits
from outlayer.result import ExecutionResult
from outlayer.telemetry import inject_context, meter
from outlayer.tls import Identity, identity_for
from outlayer.v1 import compiler_pb2_grpc, coordinator_pb2_grpc, public_pb2_grpc
from outlayer.v1 import coordinator_pb2 as pb
from services.coordinator.admin import save_hidden_log
from services.coordinator.modules import CompileWaiter, ModuleResolver
from services.coordinator.public import PERMISSIONS as PUBLIC_PERMISSIONS
from services.coordinator.public import SLOW_METHODS as PUBLIC_SLOW_METHODS
from services.coordinator.public import PublicService
from services.coordinator.queue import JobQueue, JobSpec, JobState
from services.coordinator.workers import authenticate

SERVICE_NAME = "outlayer.v1.CoordinatorService"
MAX_LEASE_WAIT_S = 10.0
PUBLIC_SERVICE_NAME = "outlayer.v1.PublicService"
_METER = meter("outlayer.coordinator")
_SUBMITTED = _METER.create_counter("outlayer.jobs.submitted", description="jobs queued")
_FINISHED = _METER.create_counter("outlayer.jobs.finished", description="jobs completed, by status")
_INSTRUCTIONS = _METER.create_histogram("outlayer.job.instructions", unit="{instruction}")
_RUN_MS = _METER.create_histogram("outlayer.job.run_time", unit="ms")
SUBMITTERS = frozenset({"edge", "indexer"})
SETTLERS = frozenset({"edge", "indexer"})
EXECUTORS = frozenset({"executor"})  # and each must also present its worker token
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
}
KINDS = frozenset({"near", "https"})


class CoordinatorService(coordinator_pb2_grpc.CoordinatorServiceServicer):
    def __init__(
        self,
        engine: Engine,
        queue: JobQueue,
        *,
        lease_seconds: float,
        limits: LimitSettings,
        modules: ModuleResolver,
        save_hidden_logs: bool = False,
        grant_signer: Identity | None = None,
        waiter: CompileWaiter | None = None,
    ) -> None:
        self._waiter = waiter or CompileWaiter(queue, modules)
        self._grant_signer = grant_signer  # the coordinator's mesh identity signs secrets grants
        self._modules = modules
        self._save_hidden_logs = save_hidden_logs
        self._limits = limits
        self._engine = engine
        self._queue = queue
        self._lease_seconds = lease_seconds

    def SubmitJob(
        self, request: pb.SubmitJobRequest, context: grpc.ServicerContext
    ) -> pb.SubmitJobResponse:
        try:
            spec = request.spec
            _validate(spec)
            spec.trace_context.clear()
            spec.trace_context.update(inject_context())  # the executor continues this trace
            resolve_limits(limits_from_proto(spec.limits), self._limits)  # refuse over the caps
            job = JobSpec(
                dedupe_key=spec.dedupe_key,
                kind=spec.kind,
                spec=_spec_dict(spec),
                priority=min(spec.priority, 2**62),
            )
            existed = self._queue.find(spec.dedupe_key)
            resolution = None
            if not spec.wasm_sha256 and existed is None:  # a resubmission changes nothing
                source = spec.code_source
                resolution = self._modules.resolve(
                    source.repo, source.commit, source.branch, source.tag,
                    deadline=spec.start_deadline_unix,
                )  # fmt: skip
                source.commit = resolution.commit  # the job records what it ran
                spec.wasm_sha256 = resolution.checksum or ""
                described = _spec_dict(spec)
                if resolution.started_build:
                    described["build_started"] = True
                job = JobSpec(job.dedupe_key, job.kind, described, job.priority)
            decided = resolution.decided if resolution else None
            compiling = bool(resolution and resolution.compiling)
            job_id = self._queue.enqueue(job, finished_with=decided, compiling=compiling)
            if compiling and existed is None:
                self._waiter.follow(job_id, job.spec)
            if existed is None:
                _SUBMITTED.add(1, {"kind": spec.kind})
            if resolution and resolution.hidden_log and self._save_hidden_logs:
                save_hidden_log(self._engine, job_id, "compiler", resolution.hidden_log)
        except OutlayerError as exc:
            abort_with(context, exc)
            raise
        return pb.SubmitJobResponse(job_id=job_id, created=existed is None)

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
        leased = self._queue.lease_waiting(worker, wait) if wait else self._queue.lease(worker)
        if leased is None:
            return pb.LeaseJobResponse(has_job=False)
        spec = json_format.ParseDict(leased.spec, pb.JobSpec())
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
        try:
            completion = self._queue.complete(request.job_id, worker, result)
            if self._save_hidden_logs and request.hidden_log:
                save_hidden_log(
                    self._engine, request.job_id, f"executor:{worker}", request.hidden_log
                )
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
        return pb.ListUnsettledJobsResponse(jobs=[_status(job) for job in jobs])

    def AcknowledgeJob(
        self, request: pb.AcknowledgeJobRequest, context: grpc.ServicerContext
    ) -> pb.JobStatus:
        try:
            return _status(self._queue.acknowledge(request.job_id))
        except KeyError:
            raise OutlayerError(ErrorCode.NOT_FOUND, f"no job {request.job_id}") from None
        except ValueError as exc:
            raise invalid_argument(str(exc)) from None

    def _worker(self, context: grpc.ServicerContext) -> str:
        """The worker a call comes from, by its bearer token (the certificate is checked by
        the interceptor)."""
        metadata = dict(context.invocation_metadata())
        authorization = metadata.get("authorization")
        return authenticate(self._engine, authorization if isinstance(authorization, str) else None)


def _spec_dict(spec: pb.JobSpec) -> dict[str, object]:
    return json_format.MessageToDict(spec, preserving_proto_field_name=True)


def _validate(spec: pb.JobSpec) -> None:
    if spec.kind not in KINDS:
        raise invalid_argument(f"spec.kind must be near or https, got {spec.kind!r}")
    if not spec.dedupe_key or len(spec.dedupe_key) > 300:
        raise invalid_argument("spec.dedupe_key is required (at most 300 characters)")
    if spec.wasm_sha256 and len(spec.wasm_sha256) != 64:
        raise invalid_argument("spec.wasm_sha256 must be the module's SHA-256 (64 hex)")
    source = spec.code_source
    if not spec.wasm_sha256 and not (source.repo and (source.commit or source.branch or
                                                      source.tag)):  # fmt: skip
        raise invalid_argument("a job needs wasm_sha256 or code_source {repo, commit|branch|tag}")
    if spec.HasField("secrets_ref"):
        ref = spec.secrets_ref
        if not (ref.account_id and ref.profile and ref.requester):
            raise invalid_argument("spec.secrets_ref needs account_id, profile and requester")
        if not spec.code_source.repo:
            raise invalid_argument("secrets belong to a repository: spec.code_source.repo is "
                                   "required with secrets_ref")  # fmt: skip


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
    servicer = CoordinatorService(
        engine,
        queue,
        lease_seconds=coordinator.lease_seconds,
        limits=settings.limits,
        modules=modules,
        save_hidden_logs=settings.save_system_hidden_logs_to_debug,
        grant_signer=identity_for(settings.tls, "coordinator"),
        waiter=waiter,
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
        PublicService(engine, queue, settings, modules, waiter),
        PUBLIC_PERMISSIONS,
        PUBLIC_SLOW_METHODS,  # waiting HTTPS calls never take the 32 threads executors use
    )
    identity = identity_for(settings.tls, "coordinator")
    credentials = identity.server_credentials() if identity else None
    return create_server(listen or coordinator.listen, [binding, public], 32, credentials)


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
