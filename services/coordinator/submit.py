"""The one way a job enters the queue, whichever entry point it came from (the indexer's
SubmitJob for a NEAR request, the public API for an HTTPS call)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from sqlalchemy import Engine

from outlayer.config import LimitSettings
from outlayer.errors import invalid_argument
from outlayer.limits import limits_from_proto, resolve_limits
from outlayer.origin import job_key, kind_of
from outlayer.telemetry import inject_context, meter
from outlayer.v1 import coordinator_pb2 as pb
from services.coordinator.admin import save_hidden_log
from services.coordinator.modules import CompileWaiter, ModuleResolver
from services.coordinator.queue import JobQueue, JobSpec

MAX_PRIORITY = 2**62  # the queue's column is a signed 64-bit integer
_SUBMITTED = meter("outlayer.coordinator").create_counter(
    "outlayer.jobs.submitted", description="jobs queued"
)


@dataclass(frozen=True)
class Submitted:
    job_id: int
    created: bool  # False: the same origin was submitted before; nothing changed


class Submitter:
    def __init__(
        self,
        engine: Engine,
        queue: JobQueue,
        modules: ModuleResolver,
        waiter: CompileWaiter,
        limits: LimitSettings,
        *,
        save_hidden_logs: bool = False,
    ) -> None:
        self._engine = engine
        self._queue = queue
        self._modules = modules
        self._waiter = waiter
        self._limits = limits
        self._save_hidden_logs = save_hidden_logs

    def submit(self, spec: pb.JobSpec, *, new: bool = False) -> Submitted:
        """Checks the spec, places its module (a code source is resolved through the compiler:
        built, failed, or building — compile, then run, before ``start_deadline_unix``) and
        queues it once per origin. Raises OutlayerError for a spec that cannot run."""
        validate(spec)
        key = job_key(spec.origin)
        spec.trace_context.clear()
        spec.trace_context.update(inject_context())  # the executor continues this trace
        resolve_limits(limits_from_proto(spec.limits), self._limits)  # refuse over the caps
        # ``new``: the submitter made the origin's id itself just now (an HTTPS call's), so it
        # cannot have been queued before.
        existed = None if new else self._queue.find(key)
        if existed is not None:  # a resubmission changes nothing
            return Submitted(existed, created=False)
        resolution = None
        if not spec.wasm_sha256:
            source = spec.code_source
            resolution = self._modules.resolve(
                source.repo, source.commit, source.branch, source.tag,
                deadline=spec.start_deadline_unix,
            )  # fmt: skip
            source.commit = resolution.commit  # the job records what it ran
            spec.wasm_sha256 = resolution.checksum or ""
            spec.build_started = resolution.started_build
        compiling = bool(resolution and resolution.compiling)
        queued = _queued(spec, key)
        job_id = self._queue.enqueue(
            queued, finished_with=resolution.decided if resolution else None, compiling=compiling
        )
        if compiling:
            self._waiter.follow(job_id, queued.spec)
        _SUBMITTED.add(1, {"kind": queued.kind})
        if resolution and resolution.hidden_log and self._save_hidden_logs:
            save_hidden_log(self._engine, job_id, "compiler", resolution.hidden_log)
        return Submitted(job_id, created=True)


def validate(spec: pb.JobSpec) -> None:
    kind_of(spec.origin)
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


def spec_to_json(spec: pb.JobSpec) -> dict[str, Any]:
    """A spec as the queue stores it (and hands it back to a leasing executor)."""
    return json_format.MessageToDict(spec, preserving_proto_field_name=True)


def spec_from_json(data: dict[str, Any]) -> pb.JobSpec:
    # Unknown fields are a job queued by an older coordinator (kind, dedupe_key, platform_env).
    return json_format.ParseDict(data, pb.JobSpec(), ignore_unknown_fields=True)


def _queued(spec: pb.JobSpec, key: str) -> JobSpec:
    return JobSpec(key, kind_of(spec.origin), spec_to_json(spec), min(spec.priority, MAX_PRIORITY))
