"""Guests' persistent storage (``outlayer.v1.StorageService``), served to executors.

A store belongs to what a job runs: an HTTPS call's project (``project:OWNER/NAME``, shared by
all its versions, so a new version reads what the last one wrote) or, for a request on chain,
its repository (``repo:URL``, normalised; ``module:SHA256`` for a module by checksum). Each
store has a shared space and one per caller (the request's signer, the payment key's owner).
The store and the caller come from the job's spec, for a job the calling worker holds the
lease of: an executor cannot name another project's store.

Values are opaque here (the executor encrypts them with the project's key from the keystore);
each write is versioned for compare-and-swap, and a store's keys and bytes are counted against
``coordinator.storage_*`` quotas in the same transaction as the write.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import grpc
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from outlayer.config import CoordinatorSettings
from outlayer.errors import ErrorCode, OutlayerError, invalid_argument, limit_exceeded
from outlayer.limits import STORAGE_MAX_KEY_BYTES as MAX_KEY_BYTES
from outlayer.origin import store_of
from outlayer.v1 import storage_pb2 as pb
from outlayer.v1 import storage_pb2_grpc
from services.coordinator.models import Job, JobStatus, StorageEntry, StorageUsage
from services.coordinator.queue import utcnow
from services.coordinator.submit import spec_from_json
from services.coordinator.workers import authenticate

DEFAULT_PAGE, MAX_PAGE = 100, 1000
PERMISSIONS = {name: frozenset({"executor"}) for name in ("Get", "Set", "Delete", "List")}


@dataclass(frozen=True)
class Scope:
    namespace: str
    caller: str  # "" for the shared space


class GuestStores:
    def __init__(self, engine: Engine, settings: CoordinatorSettings) -> None:
        self._engine = engine
        self._settings = settings

    def scope(self, job_id: int, worker: str, per_caller: bool) -> Scope:
        # Read on every call (one primary-key read): a lease that moved is refused at once.
        status, owner, namespace, caller = self._load_job(job_id)
        if status != JobStatus.LEASED or owner != worker:
            raise OutlayerError(
                ErrorCode.PERMISSION_DENIED,
                f"job {job_id} is not running on this worker: a store is reached only by the "
                "worker holding its job's lease",
            )
        if per_caller and not caller:
            raise invalid_argument(f"job {job_id} has no caller: use the shared space")
        return Scope(namespace, caller if per_caller else "")

    def _load_job(self, job_id: int) -> tuple[str, str, str, str]:
        with Session(self._engine) as session:
            job = session.get(Job, job_id)
        if job is None:
            raise OutlayerError(ErrorCode.NOT_FOUND, f"no job {job_id}")
        namespace, caller = store_of(spec_from_json(json.loads(job.spec_json)))
        return job.status, job.lease_owner or "", namespace, caller

    def get(self, scope: Scope, key: str) -> pb.StorageValue:
        _check_key(key)
        with Session(self._engine) as session:
            entry = session.get(StorageEntry, (scope.namespace, scope.caller, key))
        if entry is None:
            return pb.StorageValue(found=False)
        return pb.StorageValue(found=True, value=entry.value, version=entry.version)

    def set(self, scope: Scope, request: pb.StorageSetRequest) -> pb.StorageValue:
        _check_key(request.key)
        most = self._settings.storage_max_value_bytes
        if len(request.value) > most:
            raise limit_exceeded(
                f"a stored value is at most {most} bytes, not {len(request.value)}"
            )
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            usage = self._usage(session, scope.namespace)
            entry = session.get(
                StorageEntry, (scope.namespace, scope.caller, request.key), with_for_update=True
            )
            _check_version(entry, request.check_version, request.expected_version, request.key)
            before = 0 if entry is None else len(request.key) + len(entry.value)
            usage.bytes += len(request.key) + len(request.value) - before
            usage.keys += 1 if entry is None else 0
            self._check_quota(usage)
            if entry is None:
                entry = StorageEntry(namespace=scope.namespace, caller=scope.caller,
                                     key=request.key, value=b"", version=0,
                                     updated_at=utcnow())  # fmt: skip
            entry.value, entry.version, entry.updated_at = (
                request.value,
                entry.version + 1,
                utcnow(),
            )
            session.add(entry)
            session.add(usage)
            return pb.StorageValue(found=True, value=entry.value, version=entry.version)

    def delete(self, scope: Scope, request: pb.StorageDeleteRequest) -> bool:
        _check_key(request.key)
        with Session(self._engine) as session, session.begin():
            usage = self._usage(session, scope.namespace)
            entry = session.get(
                StorageEntry, (scope.namespace, scope.caller, request.key), with_for_update=True
            )
            _check_version(entry, request.check_version, request.expected_version, request.key)
            if entry is None:
                return False
            usage.bytes -= len(request.key) + len(entry.value)
            usage.keys -= 1
            session.delete(entry)
            session.add(usage)
            return True

    def list(self, scope: Scope, request: pb.StorageListRequest) -> pb.StorageListResponse:
        size = min(request.limit or DEFAULT_PAGE, MAX_PAGE)
        query = select(StorageEntry.key).where(
            StorageEntry.namespace == scope.namespace, StorageEntry.caller == scope.caller
        )
        if request.prefix:
            # Keys from the prefix up to the first string that does not start with it.
            query = query.where(col(StorageEntry.key) >= request.prefix,
                                col(StorageEntry.key) < request.prefix + "\U0010ffff")  # fmt: skip
        if request.cursor:
            query = query.where(col(StorageEntry.key) > request.cursor)
        with Session(self._engine) as session:
            keys = list(session.exec(query.order_by(col(StorageEntry.key)).limit(size + 1)).all())
        page = [k for k in keys[:size] if k.startswith(request.prefix)]
        answer = pb.StorageListResponse(keys=page)
        if len(keys) > size:
            answer.next_cursor = page[-1]
        return answer

    def _usage(self, session: Session, namespace: str) -> StorageUsage:
        """The store's usage row, locked: writes to one store queue behind each other."""
        usage = session.get(StorageUsage, namespace, with_for_update=True)
        if usage is None:
            session.add(StorageUsage(namespace=namespace, keys=0, bytes=0))
            session.flush()
            usage = session.get(StorageUsage, namespace, with_for_update=True)
            assert usage is not None
        return usage

    def _check_quota(self, usage: StorageUsage) -> None:
        limits = self._settings
        if usage.keys > limits.storage_max_keys:
            raise limit_exceeded(
                f"the store {usage.namespace} holds its quota of {limits.storage_max_keys} keys: "
                "delete some first"
            )
        if usage.bytes > limits.storage_max_bytes:
            raise limit_exceeded(
                f"the store {usage.namespace} would hold {usage.bytes} bytes, above its quota "
                f"of {limits.storage_max_bytes}: delete some first"
            )


def _check_key(key: str) -> None:
    if not key or len(key.encode()) > MAX_KEY_BYTES:
        raise invalid_argument(f"a storage key is 1 to {MAX_KEY_BYTES} bytes")


def _check_version(entry: StorageEntry | None, check: bool, expected: int, key: str) -> None:
    if not check:
        return
    found = 0 if entry is None else entry.version
    if found != expected:
        state = "absent" if entry is None else f"at version {found}"
        raise OutlayerError(
            ErrorCode.CONFLICT, f"key {key!r} is {state}, not at version {expected}: read it again"
        )


class StorageService(storage_pb2_grpc.StorageServiceServicer):
    def __init__(self, engine: Engine, settings: CoordinatorSettings) -> None:
        self._engine = engine
        self._stores = GuestStores(engine, settings)

    def Get(self, request: pb.StorageGetRequest, context: grpc.ServicerContext) -> pb.StorageValue:
        scope = self._scope(request.job_id, request.per_caller, context)
        return self._stores.get(scope, request.key)

    def Set(self, request: pb.StorageSetRequest, context: grpc.ServicerContext) -> pb.StorageValue:
        return self._stores.set(self._scope(request.job_id, request.per_caller, context), request)

    def Delete(
        self, request: pb.StorageDeleteRequest, context: grpc.ServicerContext
    ) -> pb.StorageDeleteResponse:
        scope = self._scope(request.job_id, request.per_caller, context)
        return pb.StorageDeleteResponse(deleted=self._stores.delete(scope, request))

    def List(
        self, request: pb.StorageListRequest, context: grpc.ServicerContext
    ) -> pb.StorageListResponse:
        return self._stores.list(self._scope(request.job_id, request.per_caller, context), request)

    def _scope(self, job_id: int, per_caller: bool, context: grpc.ServicerContext) -> Scope:
        authorization = dict(context.invocation_metadata()).get("authorization")
        worker = authenticate(
            self._engine, authorization if isinstance(authorization, str) else None
        )
        return self._stores.scope(job_id, worker, per_caller)
