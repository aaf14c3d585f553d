"""The public reads (``/public/...``): answers for anyone, with nothing secret in them.

No payment key ids, no results, no inputs: what an owner earned and from where, what a key
holds and spent, the projects, the workers, the prices and the platform's counts, the compile
cache's figures; and an account's requests on chain, with what their resolve put on chain
(output or error, resources, the fee) and nothing else: a guest's logs never go on chain and are
not served here (docs/security.md).
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, func, literal, not_, or_
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select

from outlayer.config import CoordinatorSettings
from outlayer.errors import ErrorCode, OutlayerError, invalid_argument
from outlayer.near.account_id import is_account_id
from outlayer.result import ExecutionResult
from outlayer.v1 import execution_pb2
from outlayer.v1 import public_pb2 as pb
from services.coordinator.billing import NEAR, call_job_key, prices_for
from services.coordinator.models import (
    Call,
    ChainEarnings,
    ChainRequest,
    ChargeState,
    EarningsEntry,
    HttpsCharge,
    Job,
    JobStatus,
    OwnerEarnings,
    PaymentKey,
    Project,
    Worker,
)
from services.coordinator.queue import utcnow

DEFAULT_PAGE = 50
MAX_PAGE = 100
# The unit name /public/pricing gives the prices of every stablecoin key under.
STABLECOIN = "stablecoin"


def page_size(requested: int) -> int:
    return min(requested or DEFAULT_PAGE, MAX_PAGE)


def checked_page_size(requested: int) -> int:
    """A page size a new read takes: more than MAX_PAGE is refused, not silently cut."""
    if requested > MAX_PAGE:
        raise invalid_argument(f"limit is at most {MAX_PAGE}, got {requested}")
    return requested or DEFAULT_PAGE


def to_cursor(created_at: datetime, call_id: str) -> str:
    return base64.urlsafe_b64encode(f"{created_at.isoformat()}|{call_id}".encode()).decode()


def from_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        created, _, call_id = base64.urlsafe_b64decode(cursor.encode()).decode().partition("|")
        return datetime.fromisoformat(created), call_id
    except ValueError:
        raise invalid_argument("cursor is not one the previous page gave") from None


def unix(moment: datetime) -> int:
    return int(moment.replace(tzinfo=UTC).timestamp())


def _amounts(totals: dict[str, int]) -> list[pb.TokenAmount]:
    return [pb.TokenAmount(token_id=t, amount=str(a)) for t, a in sorted(totals.items()) if a]


def earnings(engine: Engine, owner: str) -> pb.PublicEarnings:
    with Session(engine) as session:
        on_chain = session.exec(select(ChainEarnings).where(ChainEarnings.owner == owner)).all()
        https = session.exec(select(OwnerEarnings).where(OwnerEarnings.owner == owner)).all()
        open_charges = session.exec(
            select(HttpsCharge).where(
                HttpsCharge.project_owner == owner, HttpsCharge.state == ChargeState.UNSETTLED
            )
        ).all()
    unsettled: dict[str, int] = defaultdict(int)
    for charge in open_charges:
        unsettled[charge.token_id] += int(charge.amount)
    return pb.PublicEarnings(
        owner=owner,
        on_chain=_amounts({e.token_id: int(e.amount) for e in on_chain}),
        https_total=_amounts({e.token_id: int(e.total) for e in https}),
        https_unsettled=_amounts(unsettled),
    )


def earnings_history(
    engine: Engine, owner: str, cursor: str, limit: int
) -> pb.PublicEarningsHistory:
    size = page_size(limit)
    query = select(EarningsEntry, HttpsCharge.state).outerjoin(
        HttpsCharge,
        and_(
            col(HttpsCharge.call_id) == col(EarningsEntry.call_id), col(EarningsEntry.call_id) != ""
        ),
    )
    query = query.where(EarningsEntry.owner == owner)
    if cursor:
        if not cursor.isdigit():
            raise invalid_argument("cursor is not one the previous page gave")
        query = query.where(col(EarningsEntry.id) < int(cursor))
    with Session(engine) as session:
        rows = session.exec(query.order_by(col(EarningsEntry.id).desc()).limit(size + 1)).all()
    page = rows[:size]
    answer = pb.PublicEarningsHistory(entries=[
        pb.PublicEarningsEntry(
            source=entry.source, project=entry.project, token_id=entry.token_id,
            amount=entry.amount, call_id=entry.call_id, request_id=entry.request_id or 0,
            created_at_unix=unix(entry.created_at),
            # An operator's key is paid off chain: nothing to settle.
            settlement=(state or "off_chain") if entry.source == "https" else "",
        )
        for entry, state in page
    ])  # fmt: skip
    if len(rows) > size:
        answer.next_cursor = str(page[-1][0].id)
    return answer


def _chain_key(session: Session, owner: str, nonce: int) -> PaymentKey:
    key = session.exec(
        select(PaymentKey).where(PaymentKey.owner == owner, PaymentKey.nonce == nonce)
    ).first()
    if key is None:
        raise OutlayerError(
            ErrorCode.NOT_FOUND,
            f"no payment key {owner}/{nonce} (made on chain with create_payment_key; the "
            "indexer mirrors it within a block or two)",
        )
    return key


def key_balance(engine: Engine, owner: str, nonce: int) -> pb.PaymentKeyBalance:
    with Session(engine) as session:
        key = _chain_key(session, owner, nonce)
    allowed = [] if key.allowed_projects is None else _projects(key.allowed_projects)
    return pb.PaymentKeyBalance(
        owner=key.owner, nonce=nonce, token_id=key.token_id, balance=key.balance,
        unsettled=key.unsettled, held=key.held, available=str(max(key.available, 0)),
        deleted=key.deleted, max_per_call=key.max_per_call or "", allowed_projects=allowed,
        expires_at_ns=key.expires_at_ns or 0,
    )  # fmt: skip


def _projects(text: str) -> list[str]:
    return [str(p) for p in json.loads(text)]


def key_usage(
    engine: Engine, owner: str, nonce: int, cursor: str, limit: int
) -> pb.PaymentKeyUsage:
    size = page_size(limit)
    with Session(engine) as session:
        key = _chain_key(session, owner, nonce)
        query = select(Call).where(Call.key_id == key.key_id)
        if cursor:
            created, call_id = from_cursor(cursor)
            query = query.where(
                or_(col(Call.created_at) < created,
                    and_(col(Call.created_at) == created, col(Call.call_id) < call_id))
            )  # fmt: skip
        query = query.order_by(col(Call.created_at).desc(), col(Call.call_id).desc())
        rows = session.exec(query.limit(size + 1)).all()
    page = rows[:size]
    usage = pb.PaymentKeyUsage(calls=[
        pb.Execution(
            call_id=call.call_id, owner=call.owner, project=call.project, sender=key.owner,
            status="pending" if call.charged is None else "done", charged=call.charged or "",
            created_at_unix=unix(call.created_at), token_id=call.token_id,
        )
        for call in page
    ])  # fmt: skip
    if len(rows) > size:
        usage.next_cursor = to_cursor(page[-1].created_at, page[-1].call_id)
    return usage


def workers(engine: Engine) -> pb.Workers:
    with Session(engine) as session:
        rows = session.exec(select(Worker).order_by(col(Worker.id))).all()
    return pb.Workers(workers=[
        pb.WorkerInfo(name=w.name, active=not w.revoked, registered_at_unix=unix(w.created_at))
        for w in rows
    ])  # fmt: skip


def pricing(settings: CoordinatorSettings) -> pb.Pricing:
    units = []
    for token, name in ((NEAR, NEAR), ("", STABLECOIN)):
        prices = prices_for(settings, token)
        units.append(pb.UnitPricing(
            token_id=name, base_fee=str(prices.base_fee),
            per_million_instructions=str(prices.per_million_instructions),
            per_second=str(prices.per_second), per_compile_second=str(prices.per_compile_second),
        ))  # fmt: skip
    return pb.Pricing(units=units, max_compile_ms=settings.max_compile_ms)


RECENT_JOBS = 5000  # how far back recent throughput looks, at most


def stats(engine: Engine) -> pb.Stats:
    with Session(engine) as session:
        by_status = dict(
            session.exec(select(Job.status, func.count()).group_by(col(Job.status))).all()
        )
        by_kind = dict(session.exec(select(Job.kind, func.count()).group_by(col(Job.kind))).all())
        calls = session.exec(select(func.count()).select_from(Call)).one()
        pending = session.exec(
            select(func.count()).select_from(Call).where(col(Call.charged).is_(None))
        ).one()
        projects = session.exec(
            select(func.count()).select_from(Project).where(col(Project.deleted).is_(False))
        ).one()
        active = session.exec(
            select(func.count()).select_from(Worker).where(col(Worker.revoked).is_(False))
        ).one()
        # Bounded by the primary key: the newest jobs only, however long the table is.
        newest = session.exec(
            select(Job.completed_at).order_by(col(Job.id).desc()).limit(RECENT_JOBS)
        ).all()
    now = utcnow()
    finished = [at for at in newest if at is not None]
    last_hour = sum(1 for at in finished if at >= now - timedelta(hours=1))
    return pb.Stats(
        jobs_queued=by_status.get(JobStatus.QUEUED, 0) + by_status.get(JobStatus.COMPILING, 0),
        jobs_running=by_status.get(JobStatus.LEASED, 0),
        jobs_done=by_status.get(JobStatus.DONE, 0) + by_status.get(JobStatus.FAILED, 0),
        near_requests=by_kind.get("near", 0), https_calls=calls, https_calls_pending=pending,
        projects=projects, workers_active=active,
        finished_last_minute=sum(1 for at in finished if at >= now - timedelta(minutes=1)),
        finished_last_hour=last_hour,
        recent_capped=len(newest) == RECENT_JOBS and last_hour == len(finished),
    )  # fmt: skip


# --- executions: an account's requests on chain, the outcome of HTTPS calls ---------------------

_RUNNING = {JobStatus.QUEUED: "queued", JobStatus.COMPILING: "compiling",
            JobStatus.LEASED: "running"}  # fmt: skip
_FINISHED = (JobStatus.DONE.value, JobStatus.FAILED.value)
REQUEST_STATUSES = ("pending", "queued", "compiling", "running", "success", "failed")
# A stored result is ExecutionResult.to_json(), "status" first (what the queue writes).
_SUCCEEDED = '{"status": "success"'
# An HTTPS call's job is "https:<call_id>" (outlayer/origin.py).
HTTPS_KEY_PREFIX = call_job_key("x").removesuffix("x")


def check_account(account: str, what: str) -> None:
    if not is_account_id(account):
        raise invalid_argument(
            f"{what} must be a NEAR account id (2 to 64 characters: lowercase letters, digits "
            f"and - _ . between them, like alice.near), got {account!r}"
        )


def _status_filter(status: str) -> ColumnElement[bool]:
    job_status, result = col(Job.status), col(Job.result_json)
    if status == "pending":
        return job_status.in_(list(_RUNNING))
    if status in ("success", "failed"):
        succeeded = result.startswith(_SUCCEEDED, autoescape=True)
        return and_(job_status.in_(_FINISHED), succeeded if status == "success" else
                    not_(succeeded))  # fmt: skip
    wanted = next(s for s, name in _RUNNING.items() if name == status)
    return job_status == wanted


def chain_requests(
    engine: Engine, sender: str, *, status: str, repo: str, cursor: str, limit: int
) -> pb.PublicRequests:
    """A sender's requests on chain, newest first, in pages (cursor: the last job's id)."""
    if not sender:
        raise invalid_argument("sender is required: the account that signed request_execution")
    check_account(sender, "sender")
    if status not in ("", *REQUEST_STATUSES):
        raise invalid_argument(f"status is one of {', '.join(REQUEST_STATUSES)}, not {status!r}")
    size = checked_page_size(limit)
    query = select(ChainRequest, Job).join(Job, col(Job.id) == col(ChainRequest.job_id))
    query = query.where(ChainRequest.sender == sender)
    if repo:
        query = query.where(ChainRequest.code_repo == repo)
    if status:
        query = query.where(_status_filter(status))
    if cursor:
        if not cursor.isdigit() or len(cursor) > 19:
            raise invalid_argument("cursor is not one the previous page gave")
        query = query.where(col(ChainRequest.job_id) < int(cursor))
    with Session(engine) as session:
        rows = session.exec(query.order_by(col(ChainRequest.job_id).desc()).limit(size + 1)).all()
    page = rows[:size]
    answer = pb.PublicRequests(requests=[_public_request(r, job) for r, job in page])
    if len(rows) > size:
        answer.next_cursor = str(page[-1][0].job_id)
    return answer


def chain_request(engine: Engine, request_id: int, contract_id: str) -> pb.PublicRequest:
    """One request: its listing's fields, what its resolve put on chain, its compile step."""
    if contract_id:
        check_account(contract_id, "contract_id")
    query = select(ChainRequest, Job).join(Job, col(Job.id) == col(ChainRequest.job_id))
    query = query.where(ChainRequest.request_id == request_id)
    if contract_id:
        query = query.where(ChainRequest.contract_id == contract_id)
    with Session(engine) as session:
        rows = session.exec(query.limit(2)).all()
    if not rows:
        raise OutlayerError(ErrorCode.NOT_FOUND,
                            f"no request {request_id} here (the indexer queues a request within "
                            "a block or two of the one that made it)")  # fmt: skip
    if len(rows) > 1:
        contracts = ", ".join(sorted(r.contract_id for r, _ in rows))
        raise invalid_argument(f"request {request_id} exists on several contracts ({contracts}): "
                               "name one with contract_id")  # fmt: skip
    row, job = rows[0]
    return _public_request(row, job, detail=True)


def _public_request(row: ChainRequest, job: Job, detail: bool = False) -> pb.PublicRequest:
    spec: dict[str, Any] = json.loads(job.spec_json)
    near = (spec.get("origin") or {}).get("near") or {}
    source = spec.get("code_source") or {}
    answer = pb.PublicRequest(
        request_id=row.request_id, contract_id=row.contract_id, sender=row.sender,
        code_repo=row.code_repo, code_commit=str(source.get("commit") or ""),
        project_owner=str(near.get("project_owner_id") or ""),
        status=_RUNNING.get(JobStatus(job.status), ""),
        payment=str(near.get("payment_yocto") or "0"), charged=row.charged or "",
        attached_usd=str(near.get("attached_usd") or "0"),
        created_at_unix=unix(row.created_at),
        completed_at_unix=unix(job.completed_at) if job.completed_at else 0,
        resolved=job.settled_at is not None, resolve_tx_hash=row.resolve_tx or "",
        receipt_id=str(near.get("receipt_id") or ""),
        block_height=int(near.get("block_height") or 0),
    )  # fmt: skip
    if job.result_json is not None:
        # What resolve_execution puts on chain for this result (outlayer/result.py): the
        # public part. The guest's logs are not in it.
        on_chain = ExecutionResult.from_json(json.loads(job.result_json)).to_resolve_args(
            row.request_id
        )
        error = on_chain["error"] or {}
        used = on_chain["resources_used"]
        answer.status = "success" if on_chain["success"] else "failed"
        answer.error_type = str(error.get("type", ""))
        answer.error_message = str(error.get("message", ""))
        answer.refund_usd = str(on_chain["refund_usd"])
        answer.resources_used.CopyFrom(execution_pb2.ResourcesUsed(
            instructions=used["instructions"], time_ms=used["time_ms"],
            compile_ms=used["compile_ms"],
        ))  # fmt: skip
        if detail and on_chain["success"]:
            answer.output_json = json.dumps(on_chain["output"])
    if detail:
        answer.built = bool(spec.get("build_started"))
        answer.wasm_sha256 = str(spec.get("wasm_sha256") or "")
    return answer


def call_ended(succeeded: bool) -> ColumnElement[bool]:
    """A call whose job's result succeeded (or failed): the job is found by its queue key."""
    result = col(Job.result_json)
    ok = result.startswith(_SUCCEEDED, autoescape=True)
    job = (
        select(Job.id)
        .where(col(Job.dedupe_key) == literal(HTTPS_KEY_PREFIX) + col(Call.call_id))
        .where(ok if succeeded else and_(result.is_not(None), not_(ok)))
    )
    return job.exists()


@dataclass(frozen=True)
class CallOutcome:
    result: dict[str, Any] | None  # the job's result (None: not finished)
    settlement: str  # unsettled, settled, written_off, off_chain ("" while pending)
    settlement_tx: str
    job_id: int


def call_outcomes(engine: Engine, calls: Iterable[Call]) -> dict[str, CallOutcome]:
    """How each call ended and where its charge stands on chain (for ListExecutions' rows)."""
    by_key = {call_job_key(c.call_id): c for c in calls}
    if not by_key:
        return {}
    with Session(engine) as session:
        jobs = session.exec(
            select(Job.dedupe_key, Job.id, Job.result_json).where(
                col(Job.dedupe_key).in_(list(by_key))
            )
        ).all()
        charges = session.exec(
            select(HttpsCharge.call_id, HttpsCharge.state, HttpsCharge.settlement_tx).where(
                col(HttpsCharge.call_id).in_([c.call_id for c in by_key.values()])
            )
        ).all()
    results = {key: json.loads(text) for key, _, text in jobs if text is not None}
    job_ids = {key: job_id or 0 for key, job_id, _ in jobs}
    charged = {call_id: (state, tx) for call_id, state, tx in charges}
    found = {}
    for key, call in by_key.items():
        state, tx = charged.get(call.call_id, ("", None))
        if not state and call.charged is not None:
            state = "off_chain"  # an operator's key: charged here, nothing to settle
        found[call.call_id] = CallOutcome(results.get(key), state, tx or "", job_ids.get(key, 0))
    return found


def outcome_fields(outcome: CallOutcome | None, execution: pb.Execution) -> None:
    """Fills an Execution row's outcome fields (status, error type, resources, settlement)."""
    if outcome is None:
        return
    execution.settlement = outcome.settlement
    execution.settlement_tx_hash = outcome.settlement_tx
    if outcome.result is None:
        return
    result = ExecutionResult.from_json(outcome.result)
    execution.result_status = result.status.value
    execution.error_type = result.error.type.value if result.error else ""
    used = result.resources_used
    execution.resources_used.CopyFrom(execution_pb2.ResourcesUsed(
        instructions=used.instructions, time_ms=used.time_ms, memory_bytes=used.memory_bytes,
        compile_ms=used.compile_ms,
    ))  # fmt: skip


# --- the compile cache --------------------------------------------------------------------------

CACHE_WINDOW_S = 3600
# At most this many recent jobs are read for the hit/build counts (the newest of the window).
CACHE_WINDOW_JOBS = 5000


def compile_cache(engine: Engine, listing: Any | None, reason: str = "") -> pb.CompileCache:
    """``listing``: the compiler's ListCacheReply (None: it could not be read, ``reason``)."""
    answer = pb.CompileCache(window_seconds=CACHE_WINDOW_S, available=listing is not None,
                             reason=reason)  # fmt: skip
    if listing is not None:
        answer.modules = len(listing.entries)
        answer.total_bytes = listing.total_bytes
        answer.executions = sum(e.execution_count for e in listing.entries)
    since = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=CACHE_WINDOW_S)
    with Session(engine) as session:
        # The newest jobs by id (the primary key: a bounded read whatever the table holds),
        # then those of the window.
        rows = session.exec(
            select(Job.spec_json, Job.created_at).order_by(col(Job.id).desc())
            .limit(CACHE_WINDOW_JOBS)
        ).all()  # fmt: skip
    for text, created_at in rows:
        if created_at < since or '"code_source"' not in text:
            continue
        spec = json.loads(text)
        if not (spec.get("code_source") or {}).get("repo") or not spec.get("wasm_sha256"):
            continue  # not from a code source, or never got its module (a failed build)
        if spec.get("build_started"):
            answer.builds += 1
            answer.build_ms += int(spec.get("compile_ms") or 0)
        else:
            answer.hits += 1
    return answer
