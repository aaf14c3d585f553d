"""The public API (``outlayer.v1.PublicService``), reached over HTTPS through the edge.

Reads are authorized: a call's result goes only to the payment key that made it, to a key of
the project's owner, or to the operator (``X-Admin-Token``); a payment key only to itself; an
owner's earnings history only to the owner (anyone sees the total). Someone else's call or key
answers ``not_found``, as one that does not exist, so ids cannot be probed.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import grpc
from sqlalchemy import Engine, and_, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from outlayer.config import Settings
from outlayer.errors import ErrorCode, OutlayerError, invalid_argument
from outlayer.limits import limits_from_proto, limits_to_proto, resolve_limits
from outlayer.result import ExecutionResult
from outlayer.v1 import compiler_pb2, execution_pb2, public_pb2_grpc
from outlayer.v1 import coordinator_pb2 as pb_coordinator
from outlayer.v1 import public_pb2 as pb
from services.coordinator import admin, public_reads
from services.coordinator.billing import NEAR, Billing, check_may_pay, unit_name
from services.coordinator.chain_mirror import chain_now_ns
from services.coordinator.lookups import Lookup
from services.coordinator.models import Call, PaymentKey, Project, ProjectVersion
from services.coordinator.modules import ModuleResolver
from services.coordinator.queue import JobQueue, JobState, utcnow
from services.coordinator.submit import Submitter

MAX_WAIT_S = 60.0
DEFAULT_WAIT_S = 30.0
# A waiter is woken when its job finishes in this process; it also looks at the database this
# often, for a job another coordinator finished.
WAIT_POLL_S = 2.0
# yoctoNEAR amounts are u128 on chain: at most 39 digits (ASCII only: int() takes others too).
_AMOUNT = re.compile(r"[0-9]{1,39}")
_TOKEN = re.compile(r"near|[a-z0-9_\-]+(\.[a-z0-9_\-]+)*")
EDGE_ONLY = frozenset({"edge"})
# Everything here is reached through the edge only (the mesh interceptor checks it).
PERMISSIONS = {
    name: EDGE_ONLY
    for name in ("Call", "GetCall", "CreateProject", "GetProject", "CreatePaymentKey",
                 "GetPaymentKey", "GetEarnings", "ListExecutions", "GetPublicEarnings",
                 "ListPublicEarnings", "GetPaymentKeyBalance", "ListPaymentKeyUsage",
                 "GetPublicProject", "ListWorkers", "GetPricing", "GetStats",
                 "ListPublicRequests", "GetPublicRequest", "GetCompileCache", "ListQueue",
                 "GetJobHiddenLogs")
}  # fmt: skip
# /public/compile-cache is worked out at most this often.
COMPILE_CACHE_TTL_S = 10.0
# They wait for the job: on the server's pool for waits.
SLOW_METHODS = frozenset({"Call", "GetCall"})


@dataclass(frozen=True)
class Reader:
    """Who is asking: a payment key (X-Payment-Key), the operator (X-Admin-Token), or nobody."""

    key: PaymentKey | None
    admin: bool


class PublicService(public_pb2_grpc.PublicServiceServicer):
    def __init__(
        self,
        engine: Engine,
        queue: JobQueue,
        settings: Settings,
        submitter: Submitter,
        modules: ModuleResolver | None = None,
    ) -> None:
        self._submitter = submitter
        self._modules = modules
        # The compile cache's figures (the compiler's listing, a scan of the last hour's jobs),
        # worked out at most every COMPILE_CACHE_TTL_S and shared by every reader.
        self._cache_figures = Lookup(self._compile_cache, ttl_s=COMPILE_CACHE_TTL_S)
        self._engine = engine
        self._queue = queue
        self._settings = settings
        self._billing = Billing(engine, queue, settings.coordinator)
        self._current_version = Lookup(self._project)
        # The chain's clock, read at most once a second (it advances with the wall clock).
        self._chain_clock = Lookup(lambda: (chain_now_ns(engine), time.monotonic()), ttl_s=1.0)

    def _chain_now(self) -> int:
        read_ns, read_at = self._chain_clock()
        return read_ns + int((time.monotonic() - read_at) * 1e9)

    def forget_remembered(self) -> None:
        self._current_version.forget()
        self._billing.forget_keys()

    def Call(self, request: pb.CallRequest, context: grpc.ServicerContext) -> pb.CallResponse:
        return self._call(request, _headers(context))

    def GetCall(self, request: pb.GetCallRequest, context: grpc.ServicerContext) -> pb.CallResponse:
        reader = self._reader(_headers(context))
        if reader.key is None and not reader.admin:
            raise OutlayerError(
                ErrorCode.UNAUTHENTICATED,
                "send the payment key that made the call in X-Payment-Key (or a key of the "
                "project's owner)",
            )
        with Session(self._engine, expire_on_commit=False) as session:
            call = session.get(Call, request.call_id)
        key = reader.key
        visible = call is not None and (
            reader.admin or (key is not None and call.key_id == key.key_id)
            or (key is not None and key.owner == call.owner)
        )  # fmt: skip
        if not visible:
            raise OutlayerError(ErrorCode.NOT_FOUND, f"no call {request.call_id} for this key")
        if request.wait_seconds == 0:
            answer = self._answer(request.call_id)
        else:
            answer = self._await(request.call_id, _wait_seconds(request.wait_seconds))
        if answer.status == "done":  # where its charge stands on chain
            assert call is not None
            outcome = public_reads.call_outcomes(self._engine, [call]).get(call.call_id)
            if outcome is not None:
                answer.settlement = outcome.settlement or "off_chain"
                answer.settlement_tx_hash = outcome.settlement_tx
        return answer

    def CreateProject(
        self, request: pb.CreateProjectRequest, context: grpc.ServicerContext
    ) -> pb.Project:
        self._admin(_headers(context))
        if not request.owner or not request.name or "/" in request.name:
            raise invalid_argument("a project needs an owner and a name without '/'")
        version = _new_version(request)
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            project = session.exec(
                select(Project).where(Project.owner == request.owner, Project.name == request.name)
            ).first()
            if project is not None and project.on_chain and not project.deleted:
                raise OutlayerError(
                    ErrorCode.CONFLICT,
                    f"{request.owner}/{request.name} lives on chain: its owner changes it with "
                    "the contract's add_version",
                )
            if project is None:
                project = Project(owner=request.owner, name=request.name, version=1,
                                  created_at=utcnow())  # fmt: skip
            else:  # a new version, which becomes the current one
                project.version += 1
            session.add(project)
            session.flush()
            assert project.id is not None
            version.project_id, version.version = project.id, project.version
            session.add(version)
            session.flush()
            described = self._describe(session, project)
        self._current_version.forget()  # calls here use the new version at once
        return described

    def GetProject(
        self, request: pb.GetProjectRequest, context: grpc.ServicerContext
    ) -> pb.Project:
        project, _ = self._project(request.owner, request.name)
        with Session(self._engine) as session:
            return self._describe(session, project)

    def CreatePaymentKey(
        self, request: pb.CreatePaymentKeyRequest, context: grpc.ServicerContext
    ) -> pb.PaymentKey:
        self._admin(_headers(context))
        token = request.token_id or NEAR
        if not request.owner or not _AMOUNT.fullmatch(request.balance):
            raise invalid_argument(
                f"a payment key needs an owner and a balance: {unit_name(token)} in ASCII "
                "digits (at most 39)"
            )
        if not _TOKEN.fullmatch(token):
            raise invalid_argument(
                f'token_id is "near" or a stablecoin\'s NEAR account id, got {token!r}'
            )
        key, secret = self._billing.create_key(request.owner, int(request.balance), token)
        return pb.PaymentKey(key_id=key.key_id, owner=key.owner, balance=key.balance,
                             secret=secret, token_id=key.token_id)  # fmt: skip

    def GetPaymentKey(
        self, request: pb.GetPaymentKeyRequest, context: grpc.ServicerContext
    ) -> pb.PaymentKey:
        reader = self._reader(_headers(context))
        if reader.key is None and not reader.admin:
            raise OutlayerError(
                ErrorCode.UNAUTHENTICATED, "send that payment key's secret in X-Payment-Key"
            )
        key = reader.key if reader.key and reader.key.key_id == request.key_id else None
        if key is None and reader.admin:
            with Session(self._engine, expire_on_commit=False) as session:
                key = session.exec(
                    select(PaymentKey).where(PaymentKey.key_id == request.key_id)
                ).first()
        if key is None:  # another key's id answers as an unknown one
            raise OutlayerError(ErrorCode.NOT_FOUND, f"no payment key {request.key_id} for you")
        with Session(self._engine) as session:  # the balance as it is now, not as remembered
            fresh = session.exec(select(PaymentKey).where(PaymentKey.key_id == key.key_id)).one()
        return pb.PaymentKey(key_id=fresh.key_id, owner=fresh.owner, balance=str(fresh.available),
                             token_id=fresh.token_id, nonce=fresh.nonce or 0)  # fmt: skip

    def GetEarnings(
        self, request: pb.GetEarningsRequest, context: grpc.ServicerContext
    ) -> pb.Earnings:
        reader = self._reader(_headers(context))
        totals, history = self._billing.earnings(request.owner)
        earnings = pb.Earnings(owner=request.owner, totals=[
            pb.TokenAmount(token_id=token, amount=str(amount)) for token, amount in totals.items()
        ])  # fmt: skip
        owner = reader.admin or (reader.key is not None and reader.key.owner == request.owner)
        if owner:  # the history (call ids, payers) is the owner's; the total is public
            earnings.history.extend(
                pb.EarningsEntry(
                    call_id=e.call_id,
                    project=e.project,
                    amount=e.amount,
                    payer_key_id=e.payer_key_id,
                    created_at_unix=int(e.created_at.timestamp()),
                    token_id=e.token_id,
                )
                for e in history
            )
        return earnings

    def ListExecutions(
        self, request: pb.ListExecutionsRequest, context: grpc.ServicerContext
    ) -> pb.ListExecutionsResponse:
        reader = self._reader(_headers(context))
        if reader.key is None and not reader.admin:
            raise OutlayerError(
                ErrorCode.UNAUTHENTICATED,
                "send a payment key in X-Payment-Key: its own calls and the calls to its "
                "owner's projects are listed",
            )
        if request.status not in ("", "pending", "done", "success", "failed"):
            raise invalid_argument(
                f"status is pending or done (or, of those done, success or failed), not "
                f"{request.status!r}"
            )
        if request.project and not request.owner:
            raise invalid_argument("project needs owner (projects are named owner/project)")
        limit = public_reads.page_size(request.limit)
        query = select(Call, PaymentKey.owner).join(
            PaymentKey, col(PaymentKey.key_id) == col(Call.key_id)
        )
        if not reader.admin:
            assert reader.key is not None
            query = query.where(
                or_(col(Call.key_id) == reader.key.key_id, col(Call.owner) == reader.key.owner)
            )
        if request.owner:
            query = query.where(col(Call.owner) == request.owner)
        if request.project:
            query = query.where(col(Call.project) == request.project)
        if request.sender:
            query = query.where(col(PaymentKey.owner) == request.sender)
        if request.status:
            charged = col(Call.charged)
            query = query.where(charged.is_(None) if request.status == "pending" else
                                charged.is_not(None))  # fmt: skip
        if request.status in ("success", "failed"):  # how its run ended (its job's result)
            query = query.where(public_reads.call_ended(request.status == "success"))
        if request.cursor:
            created, call_id = public_reads.from_cursor(request.cursor)
            query = query.where(
                or_(col(Call.created_at) < created,
                    and_(col(Call.created_at) == created, col(Call.call_id) < call_id))
            )  # fmt: skip
        query = query.order_by(col(Call.created_at).desc(), col(Call.call_id).desc())
        with Session(self._engine) as session:
            rows = session.exec(query.limit(limit + 1)).all()
        page = rows[:limit]
        outcomes = public_reads.call_outcomes(self._engine, [call for call, _ in page])
        answer = pb.ListExecutionsResponse()
        for call, sender in page:
            row = answer.executions.add(
                call_id=call.call_id, owner=call.owner, project=call.project, sender=sender,
                key_id=call.key_id, status="pending" if call.charged is None else "done",
                charged=call.charged or "", created_at_unix=public_reads.unix(call.created_at),
                token_id=call.token_id,
            )  # fmt: skip
            outcome = outcomes.get(call.call_id)
            public_reads.outcome_fields(outcome, row)
            if reader.admin and outcome is not None:  # the operator reads jobs by their number
                row.job_id = outcome.job_id
        if len(rows) > limit:
            last = page[-1][0]
            answer.next_cursor = public_reads.to_cursor(last.created_at, last.call_id)
        return answer

    # --- public reads (services/coordinator/public_reads.py) ----------------------------------
    def GetPublicEarnings(
        self, request: pb.GetPublicEarningsRequest, context: grpc.ServicerContext
    ) -> pb.PublicEarnings:
        return public_reads.earnings(self._engine, request.owner)

    def ListPublicEarnings(
        self, request: pb.ListPublicEarningsRequest, context: grpc.ServicerContext
    ) -> pb.PublicEarningsHistory:
        return public_reads.earnings_history(
            self._engine, request.owner, request.cursor, request.limit
        )

    def GetPaymentKeyBalance(
        self, request: pb.PaymentKeyRef, context: grpc.ServicerContext
    ) -> pb.PaymentKeyBalance:
        return public_reads.key_balance(self._engine, request.owner, request.nonce)

    def ListPaymentKeyUsage(
        self, request: pb.ListPaymentKeyUsageRequest, context: grpc.ServicerContext
    ) -> pb.PaymentKeyUsage:
        return public_reads.key_usage(
            self._engine, request.owner, request.nonce, request.cursor, request.limit
        )

    def GetPublicProject(
        self, request: pb.GetProjectRequest, context: grpc.ServicerContext
    ) -> pb.Project:
        return self.GetProject(request, context)

    def ListWorkers(
        self, request: pb.ListWorkersRequest, context: grpc.ServicerContext
    ) -> pb.Workers:
        return public_reads.workers(self._engine)

    def GetPricing(
        self, request: pb.GetPricingRequest, context: grpc.ServicerContext
    ) -> pb.Pricing:
        return public_reads.pricing(self._settings.coordinator)

    def GetStats(self, request: pb.GetStatsRequest, context: grpc.ServicerContext) -> pb.Stats:
        return public_reads.stats(self._engine)

    def ListPublicRequests(
        self, request: pb.ListPublicRequestsRequest, context: grpc.ServicerContext
    ) -> pb.PublicRequests:
        return public_reads.chain_requests(
            self._engine,
            request.sender,
            status=request.status,
            repo=request.repo,
            cursor=request.cursor,
            limit=request.limit,
        )

    def GetPublicRequest(
        self, request: pb.GetPublicRequestRequest, context: grpc.ServicerContext
    ) -> pb.PublicRequest:
        return public_reads.chain_request(self._engine, request.request_id, request.contract_id)

    def GetCompileCache(
        self, request: pb.GetCompileCacheRequest, context: grpc.ServicerContext
    ) -> pb.CompileCache:
        return self._cache_figures()

    def _compile_cache(self) -> pb.CompileCache:
        listing: compiler_pb2.ListCacheReply | None = None
        reason = "this coordinator has no compiler service (coordinator.compiler)"
        if self._modules is not None:
            try:
                listing, reason = self._modules.list_cache(), ""
            except OutlayerError as exc:
                reason = exc.message
        return public_reads.compile_cache(self._engine, listing, reason)

    # --- operators (X-Admin-Token) ------------------------------------------------------------
    def ListQueue(
        self, request: pb.ListQueueRequest, context: grpc.ServicerContext
    ) -> pb.OperatorQueue:
        self._admin(_headers(context))
        return admin.queue_listing(self._engine, request.limit)

    def GetJobHiddenLogs(
        self, request: pb.GetJobHiddenLogsRequest, context: grpc.ServicerContext
    ) -> pb.JobHiddenLogs:
        self._admin(_headers(context))
        saving = self._settings.save_system_hidden_logs_to_debug
        return admin.job_hidden_logs(self._engine, request.job_id, saving)

    # --- internals ------------------------------------------------------------------------------
    def _call(self, request: pb.CallRequest, headers: dict[str, str]) -> pb.CallResponse:
        key = self._billing.key_for(headers.get("x-payment-key"))
        deposit_text, wait = _call_inputs(request, headers)
        answer_at_once = getattr(request, "async")  # a Python keyword, so not request.async
        if answer_at_once:
            wait = MAX_WAIT_S  # how long the job may wait for a build; nobody waits here
        project, version = self._current_version(request.owner, request.project, request.version)
        secrets_ref = _secrets_ref(request, project, version, key.owner)
        limits = resolve_limits(limits_from_proto(request.limits), self._settings.limits)
        max_cost = self._billing.prices(key.token_id).max_cost(
            limits, may_build=not version.wasm_sha256
        )
        _check_payment(key, deposit_text, max_cost, headers)
        check_may_pay(key, f"{project.owner}/{project.name}", max_cost + int(deposit_text),
                      self._chain_now() if key.expires_at_ns is not None else 0)  # fmt: skip
        nonce = request.nonce or None
        if nonce is not None and len(nonce) > 100:
            raise invalid_argument("nonce is at most 100 characters")

        def job_spec(call_id: str) -> pb_coordinator.JobSpec:
            spec = pb_coordinator.JobSpec(
                origin=pb_coordinator.JobOrigin(https=pb_coordinator.HttpsCall(
                    call_id=call_id, project_owner=project.owner, project_name=project.name,
                    attached_deposit=deposit_text, sender_id=key.owner,
                )),
                input=request.input.encode(),
                limits=limits_to_proto(limits),
                response_format=request.response_format,
                start_deadline_unix=time.time() + wait,  # compile, then run, within the wait
            )  # fmt: skip
            if version.wasm_sha256:
                spec.wasm_sha256 = version.wasm_sha256
            else:
                spec.code_source.repo = version.code_repo or ""
                spec.code_source.commit = version.code_commit or ""
                spec.code_source.branch = version.code_branch or ""
                spec.code_source.tag = version.code_tag or ""
            if secrets_ref is not None:
                spec.secrets_ref.CopyFrom(secrets_ref)
            return spec

        # What the nonce names, when there is one (a call without is never looked up by it).
        digest = (
            ""
            if nonce is None
            else _request_digest(request, limits_to_proto(limits), secrets_ref, deposit_text)
        )
        earlier = self._billing.call_for_nonce(key.key_id, nonce, digest)
        if earlier is not None:  # a retry: the first call's answer, not a second run
            return self._retried(earlier, nonce, job_spec, 0.0 if answer_at_once else wait)
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
            token_id=key.token_id,
            request_sha256=digest or None,
        )
        try:
            self._billing.hold(key.key_id, call)
        except IntegrityError:  # the same nonce raced in from another request
            earlier = self._billing.call_for_nonce(key.key_id, nonce, digest)
            assert earlier is not None
            return self._retried(earlier, nonce, job_spec, 0.0 if answer_at_once else wait)
        try:
            # The call finds its job by the key its origin gives it (billing.job_of): no
            # second write to the call's row on the way.
            job_id = self._submitter.submit(job_spec(call_id), new=True).job_id
        except Exception:
            self._billing.release(call_id)
            raise
        if answer_at_once:
            return _pending(call_id)
        return self._await(call_id, wait, job_id)

    def _retried(
        self,
        call_id: str,
        nonce: str | None,
        job_spec: Callable[[str], pb_coordinator.JobSpec],
        wait: float,
    ) -> pb.CallResponse:
        """A call sent again with its nonce: the first call's answer. A first call whose job
        was never queued (its coordinator died between the hold and the queue) is queued now,
        while its hold stands; one whose hold was given back ran nowhere and is refused."""
        job_id = self._billing.job_of(call_id)
        if not job_id:
            if not self._billing.holding(call_id):
                raise invalid_argument(
                    f"the first call with nonce {nonce!r} ({call_id}) failed before it ran and "
                    "was not charged; send the call again with a new nonce"
                )
            job_id = self._submitter.submit(job_spec(call_id)).job_id  # once: by its key
        return self._await(call_id, wait, job_id)

    def _await(self, call_id: str, wait_s: float, job_id: int = 0) -> pb.CallResponse:
        job_id = job_id or self._billing.job_of(call_id)
        # Woken when the job finishes, on this replica or another (the queue's JobEvents).
        state = self._queue.wait_finished(job_id, wait_s, WAIT_POLL_S) if job_id else None
        return self._answer(call_id, state)

    def _answer(self, call_id: str, state: JobState | None = None) -> pb.CallResponse:
        settled = self._billing.settle(call_id, state)
        if settled is None:
            return _pending(call_id)
        result = ExecutionResult.from_json(settled.result).to_proto()
        return pb.CallResponse(
            call_id=call_id, status="done", result=result, charged=str(settled.charged),
            token_id=settled.token_id,
        )  # fmt: skip

    def _project(self, owner: str, name: str, number: int = 0) -> tuple[Project, ProjectVersion]:
        """The project and one of its versions (0: the current one)."""
        with Session(self._engine, expire_on_commit=False) as session:
            project = session.exec(
                select(Project).where(Project.owner == owner, Project.name == name)
            ).first()
            if project is None or project.deleted:
                raise OutlayerError(ErrorCode.NOT_FOUND, f"no project {owner}/{name}")
            wanted = number or project.version
            version = session.exec(
                select(ProjectVersion).where(
                    ProjectVersion.project_id == project.id, ProjectVersion.version == wanted
                )
            ).first()
        if version is None:
            raise OutlayerError(
                ErrorCode.NOT_FOUND,
                f"{owner}/{name} has no version {wanted} (versions 1 to {project.version})",
            )
        return project, version

    def _describe(self, session: Session, project: Project) -> pb.Project:
        versions = session.exec(
            select(ProjectVersion)
            .where(ProjectVersion.project_id == project.id)
            .order_by(col(ProjectVersion.version))
        ).all()
        described = [_version(v) for v in versions]
        current = next(v for v in described if v.version == project.version)
        return pb.Project(
            owner=project.owner,
            name=project.name,
            version=project.version,
            wasm_sha256=current.wasm_sha256,
            code_source=current.code_source,
            versions=described,
            on_chain=project.on_chain,
        )

    def _admin(self, headers: dict[str, str]) -> None:
        token = self._settings.coordinator.admin_token
        if not token:
            raise OutlayerError(
                ErrorCode.PERMISSION_DENIED,
                "management is disabled: the operator has set no admin token",
            )
        if not secrets.compare_digest(headers.get("x-admin-token", ""), token):
            raise OutlayerError(ErrorCode.UNAUTHENTICATED, "send the operator's X-Admin-Token")

    def _reader(self, headers: dict[str, str]) -> Reader:
        """Who reads: a credential that is sent must be valid (a wrong one is refused, not
        taken for no credential)."""
        admin = False
        if "x-admin-token" in headers:
            self._admin(headers)
            admin = True
        key = None
        if "x-payment-key" in headers:
            key = self._billing.key_for(headers["x-payment-key"])
        return Reader(key, admin)


def _headers(context: grpc.ServicerContext) -> dict[str, str]:
    return {k.lower(): v for k, v in context.invocation_metadata() if isinstance(v, str)}


def _pending(call_id: str) -> pb.CallResponse:
    return pb.CallResponse(call_id=call_id, status="pending", poll_url=f"/calls/{call_id}")


def _request_digest(
    request: pb.CallRequest,
    limits: execution_pb2.ResourceLimits,
    secrets_ref: pb_coordinator.SecretsRef | None,
    attached_deposit: str,
) -> str:
    """What a call's nonce names: the request (project, version, input, limits, format,
    secrets) and its attached deposit, as they resolve (no limits and their defaults spelt
    out, no format and text, are one request), apart from how its caller waits."""
    named = pb.CallRequest()
    named.CopyFrom(request)
    # How a caller waits for a call, not what it asks: a retry may change them.
    named.ClearField("wait_seconds")
    named.ClearField("async")
    named.ClearField("nonce")
    named.limits.CopyFrom(limits)
    if named.response_format == execution_pb2.RESPONSE_FORMAT_UNSPECIFIED:
        named.response_format = execution_pb2.RESPONSE_FORMAT_TEXT
    named.ClearField("secrets_profile")
    named.ClearField("secrets_account_id")
    digest = hashlib.sha256(named.SerializeToString(deterministic=True))
    if secrets_ref is not None:
        digest.update(b"\0secrets:" + secrets_ref.SerializeToString(deterministic=True))
    digest.update(b"\0deposit:" + str(int(attached_deposit)).encode())
    return digest.hexdigest()


def _call_inputs(request: pb.CallRequest, headers: dict[str, str]) -> tuple[str, float]:
    """The attached deposit and the wait, checked: refused before anything is held."""
    deposit = headers.get("x-attached-deposit", "0").strip() or "0"
    if not _AMOUNT.fullmatch(deposit):
        raise invalid_argument(
            "X-Attached-Deposit must be a whole number of the stablecoin's smallest unit "
            "(10^-6 USD for USDC; ASCII digits, at most 39)"
        )
    if request.response_format not in execution_pb2.ResponseFormat.values():
        names = ", ".join(execution_pb2.ResponseFormat.keys())
        raise invalid_argument(f"unknown response_format {request.response_format}; one of {names}")
    return deposit, _wait_seconds(request.wait_seconds)


def _check_payment(key: PaymentKey, deposit: str, max_cost: int, headers: dict[str, str]) -> None:
    """X-Attached-Deposit is USD (the stablecoin's smallest unit, as attached_usd on chain),
    so it needs a stablecoin key; X-Compute-Limit caps what the call's compute may cost."""
    if deposit != "0" and key.token_id == NEAR:
        raise invalid_argument(
            "X-Attached-Deposit is a USD payment (the stablecoin's smallest unit) and this "
            "payment key holds NEAR: pay it with a stablecoin payment key"
        )
    limit_text = headers.get("x-compute-limit", "").strip()
    if not limit_text:
        return
    if not _AMOUNT.fullmatch(limit_text):
        raise invalid_argument(
            f"X-Compute-Limit must be a whole number of {unit_name(key.token_id)} (ASCII "
            "digits, at most 39): the most this call's compute may cost"
        )
    if max_cost > int(limit_text):
        raise invalid_argument(
            f"with these limits the call may cost up to {max_cost} {unit_name(key.token_id)}, "
            f"above X-Compute-Limit {limit_text}: lower limits.max_instructions or "
            "limits.max_execution_seconds, or raise X-Compute-Limit (GET /public/pricing)"
        )


def _wait_seconds(requested: float) -> float:
    """How long to wait for a result: more than 60 is 60 (for Call, 0 is the default, 30)."""
    if not math.isfinite(requested) or requested < 0:
        raise invalid_argument(
            f"wait_seconds must be a number of seconds from 0 to {MAX_WAIT_S:g}, got {requested}"
        )
    return min(requested or DEFAULT_WAIT_S, MAX_WAIT_S)


def _new_version(request: pb.CreateProjectRequest) -> ProjectVersion:
    source = request.code_source
    has_source = bool(source.repo or source.commit)
    if has_source == bool(request.wasm_sha256):
        raise invalid_argument(
            "a version is either code_source {repo, commit} or wasm_sha256, exactly one of them"
        )
    if request.wasm_sha256:
        if len(request.wasm_sha256) != 64 or not _is_hex(request.wasm_sha256):
            raise invalid_argument("wasm_sha256 must be the module's SHA-256 (64 hex)")
        return ProjectVersion(project_id=0, version=0, wasm_sha256=request.wasm_sha256.lower(),
                              created_at=utcnow())  # fmt: skip
    if not source.repo.startswith("https://github.com/") or " " in source.repo:
        raise invalid_argument(
            f"code_source.repo must be https://github.com/OWNER/REPO, got {source.repo!r}"
        )
    if len(source.commit) != 40 or not _is_hex(source.commit):
        raise invalid_argument("code_source.commit must be 40 hexadecimal characters")
    return ProjectVersion(project_id=0, version=0, code_repo=source.repo.removesuffix(".git"),
                          code_commit=source.commit.lower(), created_at=utcnow())  # fmt: skip


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def _version(version: ProjectVersion) -> pb.ProjectVersion:
    described = pb.ProjectVersion(
        version=version.version,
        wasm_sha256=version.wasm_sha256 or "",
        created_at_unix=int(version.created_at.timestamp()),
    )
    if version.code_repo:
        described.code_source.CopyFrom(pb.ProjectSource(
            repo=version.code_repo, commit=version.code_commit or "",
            branch=version.code_branch or "", tag=version.code_tag or "",
        ))  # fmt: skip
    return described


def _secrets_ref(
    request: pb.CallRequest, project: Project, version: ProjectVersion, caller: str
) -> pb_coordinator.SecretsRef | None:
    """Secrets for an HTTPS call: the profile (and whose), checked against the key's owner."""
    if not request.secrets_profile:
        if request.secrets_account_id:
            raise invalid_argument("secrets_account_id needs secrets_profile")
        return None
    if not version.code_repo:
        raise invalid_argument(
            f"secrets belong to a repository; version {version.version} of "
            f"{project.owner}/{project.name} is a module without one"
        )
    return pb_coordinator.SecretsRef(
        account_id=request.secrets_account_id or project.owner,
        profile=request.secrets_profile,
        requester=caller,
    )
