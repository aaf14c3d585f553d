"""The operators' API (``outlayer.v1.AdminService``): system_hidden_logs, on loopback only."""

from __future__ import annotations

import grpc
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from outlayer.config import Settings
from outlayer.errors import ErrorCode, OutlayerError
from outlayer.grpcserver import LOOPBACK_HOSTS, ServiceBinding, create_server
from outlayer.v1 import coordinator_pb2 as pb
from outlayer.v1 import coordinator_pb2_grpc
from services.coordinator.models import SystemHiddenLog
from services.coordinator.queue import utcnow

ADMIN_SERVICE_NAME = "outlayer.v1.AdminService"


def save_hidden_log(engine: Engine, job_id: int, source: str, text: str) -> None:
    with Session(engine) as session, session.begin():
        session.add(SystemHiddenLog(job_id=job_id, source=source, text=text, created_at=utcnow()))


class AdminService(coordinator_pb2_grpc.AdminServiceServicer):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def GetHiddenLogs(
        self, request: pb.GetHiddenLogsRequest, context: grpc.ServicerContext
    ) -> pb.GetHiddenLogsResponse:
        with Session(self._engine) as session:
            rows = session.exec(
                select(SystemHiddenLog)
                .where(SystemHiddenLog.job_id == request.job_id)
                .order_by(col(SystemHiddenLog.id))
            ).all()
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
