"""The public API (``outlayer.v1.PublicService``), reached over HTTPS through the edge."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import TypeVar

import grpc
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from outlayer.config import Settings
from outlayer.errors import ErrorCode, OutlayerError, invalid_argument
from outlayer.grpcserver import abort_with
from outlayer.limits import ResourceLimits, limits_from_proto, resolve_limits
from outlayer.platform_env import RESERVED
from outlayer.result import ExecutionResult
from outlayer.tls import peer_service, uses_mtls
from outlayer.v1 import execution_pb2, public_pb2_grpc
from outlayer.v1 import public_pb2 as pb
from services.coordinator.billing import Billing
from services.coordinator.models import Call, PaymentKey, Project
from services.coordinator.queue import JobQueue, JobSpec, utcnow

T = TypeVar("T")
MAX_WAIT_S = 60.0
DEFAULT_WAIT_S = 30.0


class PublicService(public_pb2_grpc.PublicServiceServicer):
    def __init__(self, engine: Engine, queue: JobQueue, settings: Settings) -> None:
        self._engine = engine
        self._queue = queue
        self._settings = settings
        self._billing = Billing(engine, queue, settings.coordinator)

    def Call(self, request: pb.CallRequest, context: grpc.ServicerContext) -> pb.CallResponse:
        return self._guard(context, lambda: self._call(request, _headers(context)))

    def GetCall(self, request: pb.GetCallRequest, context: grpc.ServicerContext) -> pb.CallResponse:
        return self._guard(context, lambda: self._answer(request.call_id))

    def CreateProject(
        self, request: pb.CreateProjectRequest, context: grpc.ServicerContext
    ) -> pb.Project:
        def create() -> pb.Project:
            self._admin(_headers(context))
            if not request.owner or not request.name or "/" in request.name:
                raise invalid_argument("a project needs an owner and a name without '/'")
            if len(request.wasm_sha256) != 64:
                raise invalid_argument("wasm_sha256 must be the module's SHA-256 (64 hex)")
            with Session(self._engine, expire_on_commit=False) as session, session.begin():
                project = session.exec(
                    select(Project).where(
                        Project.owner == request.owner, Project.name == request.name
                    )
                ).first()
                if project is None:
                    project = Project(
                        owner=request.owner,
                        name=request.name,
                        wasm_sha256=request.wasm_sha256,
                        created_at=utcnow(),
                    )
                else:  # a new version
                    project.wasm_sha256 = request.wasm_sha256
                    project.version += 1
                session.add(project)
                session.flush()
                return _project(project)

        return self._guard(context, create)

    def GetProject(
        self, request: pb.GetProjectRequest, context: grpc.ServicerContext
    ) -> pb.Project:
        return self._guard(context, lambda: _project(self._project(request.owner, request.name)))

    def CreatePaymentKey(
        self, request: pb.CreatePaymentKeyRequest, context: grpc.ServicerContext
    ) -> pb.PaymentKey:
        def create() -> pb.PaymentKey:
            self._admin(_headers(context))
            if not request.owner or not request.balance_yocto.isdigit():
                raise invalid_argument("a payment key needs an owner and balance_yocto (digits)")
            key, secret = self._billing.create_key(request.owner, int(request.balance_yocto))
            return pb.PaymentKey(
                key_id=key.key_id, owner=key.owner, balance_yocto=key.balance, secret=secret
            )

        return self._guard(context, create)

    def GetPaymentKey(
        self, request: pb.GetPaymentKeyRequest, context: grpc.ServicerContext
    ) -> pb.PaymentKey:
        def get() -> pb.PaymentKey:
            with Session(self._engine, expire_on_commit=False) as session:
                key = session.exec(
                    select(PaymentKey).where(PaymentKey.key_id == request.key_id)
                ).first()
            if key is None:
                raise OutlayerError(ErrorCode.NOT_FOUND, f"no payment key {request.key_id}")
            available = int(key.balance) - int(key.held)
            return pb.PaymentKey(key_id=key.key_id, owner=key.owner, balance_yocto=str(available))

        return self._guard(context, get)

    def GetEarnings(
        self, request: pb.GetEarningsRequest, context: grpc.ServicerContext
    ) -> pb.Earnings:
        def get() -> pb.Earnings:
            total, history = self._billing.earnings(request.owner)
            return pb.Earnings(
                owner=request.owner,
                total_yocto=str(total),
                history=[
                    pb.EarningsEntry(
                        call_id=e.call_id,
                        project=e.project,
                        amount_yocto=e.amount,
                        payer_key_id=e.payer_key_id,
                        created_at_unix=int(e.created_at.timestamp()),
                    )
                    for e in history
                ],
            )

        return self._guard(context, get)

    # --- internals ------------------------------------------------------------------------------
    def _call(self, request: pb.CallRequest, headers: dict[str, str]) -> pb.CallResponse:
        key = self._billing.key_for(headers.get("x-payment-key"))
        deposit_text = headers.get("x-attached-deposit", "0").strip() or "0"
        if not deposit_text.isdigit():
            raise invalid_argument("X-Attached-Deposit must be a whole number of yoctoNEAR")
        project = self._project(request.owner, request.project)
        limits = resolve_limits(limits_from_proto(request.limits), self._settings.limits)
        max_cost = self._billing.max_cost(limits)
        nonce = request.nonce or None
        if nonce is not None and len(nonce) > 100:
            raise invalid_argument("nonce is at most 100 characters")
        earlier = self._billing.call_for_nonce(key.key_id, nonce)
        if earlier is not None:  # a retry: the first call's answer, not a second run
            return self._await(earlier, request.wait_seconds)
        call_id = uuid.uuid4().hex
        call = Call(
            call_id=call_id,
            key_id=key.key_id,
            owner=project.owner,
            project=project.name,
            job_id=0,
            hold=str(max_cost + int(deposit_text)),
            max_cost=str(max_cost),
            attached_deposit=deposit_text,
            nonce=nonce,
            created_at=utcnow(),
        )
        try:
            self._billing.hold(key.key_id, call)
        except IntegrityError:  # the same nonce raced in from another request
            earlier = self._billing.call_for_nonce(key.key_id, nonce)
            assert earlier is not None
            return self._await(earlier, request.wait_seconds)
        try:
            spec = {
                "kind": "https",
                "dedupe_key": f"https:{call_id}",
                "wasm_sha256": project.wasm_sha256,
                "input": _b64(request.input),
                "limits": {
                    "max_instructions": str(limits.max_instructions),
                    "max_memory_mb": limits.max_memory_mb,
                    "max_execution_seconds": limits.max_execution_seconds,
                },
                "response_format": execution_pb2.ResponseFormat.Name(request.response_format),
                "platform_env": _https_env(call_id, project, limits, deposit_text),
            }
            job_id = self._queue.enqueue(JobSpec(f"https:{call_id}", "https", spec))
            with Session(self._engine, expire_on_commit=False) as session, session.begin():
                stored = session.get(Call, call_id)
                assert stored is not None
                stored.job_id = job_id
                session.add(stored)
        except Exception:
            self._billing.release(call_id)
            raise
        return self._await(call_id, request.wait_seconds)

    def _await(self, call_id: str, wait_seconds: float) -> pb.CallResponse:
        job_id = self._billing.job_of(call_id)
        if job_id:
            self._queue.wait_finished(job_id, min(wait_seconds or DEFAULT_WAIT_S, MAX_WAIT_S))
        return self._answer(call_id)

    def _answer(self, call_id: str) -> pb.CallResponse:
        settled = self._billing.settle(call_id)
        if settled is None:
            return pb.CallResponse(call_id=call_id, status="pending")
        result = ExecutionResult.from_json(settled.result).to_proto()
        return pb.CallResponse(
            call_id=call_id, status="done", result=result, charged_yocto=str(settled.charged)
        )

    def _project(self, owner: str, name: str) -> Project:
        with Session(self._engine, expire_on_commit=False) as session:
            project = session.exec(
                select(Project).where(Project.owner == owner, Project.name == name)
            ).first()
        if project is None:
            raise OutlayerError(ErrorCode.NOT_FOUND, f"no project {owner}/{name}")
        return project

    def _admin(self, headers: dict[str, str]) -> None:
        token = self._settings.coordinator.admin_token
        if not token:
            raise OutlayerError(
                ErrorCode.PERMISSION_DENIED,
                "management is disabled: the operator has set no admin token",
            )
        if headers.get("x-admin-token") != token:
            raise OutlayerError(ErrorCode.UNAUTHENTICATED, "send the operator's X-Admin-Token")

    def _guard(self, context: grpc.ServicerContext, action: Callable[[], T]) -> T:
        try:
            if uses_mtls(context) and peer_service(context) != "edge":
                raise OutlayerError(
                    ErrorCode.PERMISSION_DENIED, "the public API is served through the edge only"
                )
            return action()
        except OutlayerError as exc:
            abort_with(context, exc)
            raise


def _headers(context: grpc.ServicerContext) -> dict[str, str]:
    return {k.lower(): v for k, v in context.invocation_metadata() if isinstance(v, str)}


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _project(project: Project) -> pb.Project:
    return pb.Project(
        owner=project.owner,
        name=project.name,
        wasm_sha256=project.wasm_sha256,
        version=project.version,
    )


def _https_env(
    call_id: str, project: Project, limits: ResourceLimits, deposit: str
) -> dict[str, str]:
    env = dict.fromkeys(RESERVED, "")
    env.update(
        {
            "OUTLAYER_EXECUTION_TYPE": "HTTPS",
            "OUTLAYER_CALL_ID": call_id,
            "OUTLAYER_PROJECT_OWNER": project.owner,
            "OUTLAYER_PROJECT_NAME": project.name,
            "NEAR_PAYMENT_YOCTO": deposit,
            "NEAR_MAX_INSTRUCTIONS": str(limits.max_instructions),
            "NEAR_MAX_MEMORY_MB": str(limits.max_memory_mb),
            "NEAR_MAX_EXECUTION_SECONDS": str(limits.max_execution_seconds),
            # Over HTTPS the attached payment is X-Attached-Deposit: a guest's refund_usd gives
            # back from it, as on chain from attached_usd.
            "ATTACHED_USD": deposit,
            "USD_PAYMENT": deposit,
        }
    )
    return env
