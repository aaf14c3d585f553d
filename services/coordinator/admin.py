"""The operators' reads: system_hidden_logs and the queue.

On loopback, ``outlayer.v1.AdminService`` (no credentials: the listener is this machine's
only). Through the edge, PublicService's ListQueue and GetJobHiddenLogs answer the same with
the operator's X-Admin-Token only (checked in public.py as for every operator method).
"""

from __future__ import annotations

from datetime import UTC, datetime

import grpc
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from outlayer.config import Settings
from outlayer.errors import ErrorCode, OutlayerError, invalid_argument
from outlayer.grpcserver import LOOPBACK_HOSTS, ServiceBinding, create_server
from outlayer.v1 import coordinator_pb2 as pb
from outlayer.v1 import coordinator_pb2_grpc
from outlayer.v1 import public_pb2 as public_pb
from services.coordinator.models import Job, JobStatus, SystemHiddenLog
from services.coordinator.queue import utcnow

DEFAULT_QUEUE_PAGE = 100
MAX_QUEUE_PAGE = 200
WAITING = (JobStatus.QUEUED.value, JobStatus.COMPILING.value, JobStatus.LEASED.value)

ADMIN_SERVICE_NAME = "outlayer.v1.AdminService"


def save_hidden_log(engine: Engine, job_id: int, source: str, text: str) -> None:
    with Session(engine) as session, session.begin():
        session.add(SystemHiddenLog(job_id=job_id, source=source, text=text, created_at=utcnow()))


def hidden_logs(engine: Engine, job_id: int) -> list[SystemHiddenLog]:
    with Session(engine) as session:
        return list(session.exec(
            select(SystemHiddenLog)
            .where(SystemHiddenLog.job_id == job_id)
            .order_by(col(SystemHiddenLog.id))
        ).all())  # fmt: skip


def _unix(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp())  # stored naive, always UTC


def job_hidden_logs(engine: Engine, job_id: int, saving: bool) -> public_pb.JobHiddenLogs:
    """A job's hidden logs, for the operator through the edge."""
    if job_id <= 0:
        raise invalid_argument("job_id is a job's number (1, 2, ...)")
    with Session(engine) as session:
        if session.get(Job, job_id) is None:
            raise OutlayerError(ErrorCode.NOT_FOUND, f"no job {job_id}")
    return public_pb.JobHiddenLogs(job_id=job_id, saving=saving, logs=[
        public_pb.OperatorLog(source=r.source, text=r.text, created_at_unix=_unix(r.created_at))
        for r in hidden_logs(engine, job_id)
    ])  # fmt: skip


def queue_listing(engine: Engine, limit: int) -> public_pb.OperatorQueue:
    """The jobs not finished yet, oldest first, and how many there are of each state."""
    if limit > MAX_QUEUE_PAGE:
        raise invalid_argument(f"limit is at most {MAX_QUEUE_PAGE}, got {limit}")
    size = limit or DEFAULT_QUEUE_PAGE
    now = utcnow()
    with Session(engine) as session:
        counts = dict(session.exec(
            select(Job.status, func.count()).where(col(Job.status).in_(WAITING))
            .group_by(col(Job.status))
        ).all())  # fmt: skip
        rows = session.exec(
            select(Job).where(col(Job.status).in_(WAITING)).order_by(col(Job.id)).limit(size)
        ).all()
    return public_pb.OperatorQueue(
        jobs=[
            public_pb.QueuedJob(
                job_id=job.id or 0, kind=job.kind, status=job.status, attempts=job.attempts,
                max_attempts=job.max_attempts, created_at_unix=_unix(job.created_at),
                age_seconds=max(int((now - job.created_at).total_seconds()), 0),
                lease_owner=job.lease_owner or "", priority=max(job.priority, 0),
                lease_expires_at_unix=_unix(job.lease_expires_at) if job.lease_expires_at else 0,
                origin=job.dedupe_key,
            )
            for job in rows
        ],
        queued=counts.get(JobStatus.QUEUED, 0), compiling=counts.get(JobStatus.COMPILING, 0),
        leased=counts.get(JobStatus.LEASED, 0),
    )  # fmt: skip


class AdminService(coordinator_pb2_grpc.AdminServiceServicer):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def GetHiddenLogs(
        self, request: pb.GetHiddenLogsRequest, context: grpc.ServicerContext
    ) -> pb.GetHiddenLogsResponse:
        rows = hidden_logs(self._engine, request.job_id)
        return pb.GetHiddenLogsResponse(
            logs=[
                pb.HiddenLog(
                    source=r.source, text=r.text, created_at_unix=int(r.created_at.timestamp())
                )
                for r in rows
            ]
        )


def build_admin_server(
    settings: Settings, engine: Engine, listen: str | None = None
) -> tuple[grpc.Server, int]:
    """The admin API, plaintext and reachable from this machine only."""
    address = listen or settings.coordinator.admin_listen
    if address.rsplit(":", 1)[0] not in LOOPBACK_HOSTS:
        raise OutlayerError(
            ErrorCode.CONFIGURATION,
            f"coordinator.admin_listen {address!r} must be a loopback address (127.0.0.1:PORT): "
            "system_hidden_logs are for operators on this machine only",
        )
    binding = ServiceBinding(
        ADMIN_SERVICE_NAME,
        coordinator_pb2_grpc.add_AdminServiceServicer_to_server,
        AdminService(engine),
    )
    return create_server(address, [binding], 2, None)
