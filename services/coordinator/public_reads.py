"""The public reads (``/public/...``): answers for anyone, with nothing secret in them.

No payment key ids, no results, no inputs: what an owner earned and from where, what a key
holds and spent, the projects, the workers, the prices and the platform's counts.
"""

from __future__ import annotations

import base64
import json
from collections import defaultdict
from datetime import UTC, datetime

from sqlalchemy import Engine, and_, func, or_
from sqlmodel import Session, col, select

from outlayer.config import CoordinatorSettings
from outlayer.errors import ErrorCode, OutlayerError, invalid_argument
from outlayer.v1 import public_pb2 as pb
from services.coordinator.billing import NEAR, prices_for
from services.coordinator.models import (
    Call,
    ChainEarnings,
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

DEFAULT_PAGE = 50
MAX_PAGE = 100
# The unit name /public/pricing gives the prices of every stablecoin key under.
STABLECOIN = "stablecoin"


def page_size(requested: int) -> int:
    return min(requested or DEFAULT_PAGE, MAX_PAGE)


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
    return pb.Stats(
        jobs_queued=by_status.get(JobStatus.QUEUED, 0) + by_status.get(JobStatus.COMPILING, 0),
        jobs_running=by_status.get(JobStatus.LEASED, 0),
        jobs_done=by_status.get(JobStatus.DONE, 0) + by_status.get(JobStatus.FAILED, 0),
        near_requests=by_kind.get("near", 0), https_calls=calls, https_calls_pending=pending,
        projects=projects, workers_active=active,
    )  # fmt: skip
