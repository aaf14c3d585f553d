"""Paying for HTTPS calls: a hold at the call's worst-case cost, then a charge for what it used.

No charge without a result: the hold only reserves balance; the payment key is charged, and
the project owner credited with the attached deposit (on success), once, when the job's result
is settled. A call refused before it is queued holds nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, insert, update
from sqlalchemy import select as select_row
from sqlmodel import Session, col, select

from outlayer.config import CoordinatorSettings
from outlayer.errors import NOT_RUN, ErrorCode, ExecutionErrorType, OutlayerError
from outlayer.limits import ResourceLimits
from outlayer.origin import job_key
from outlayer.v1 import coordinator_pb2 as pb
from services.coordinator.lookups import Lookup
from services.coordinator.models import (
    Call,
    ChargeState,
    EarningsEntry,
    HttpsCharge,
    Job,
    OwnerEarnings,
    PaymentKey,
)
from services.coordinator.queue import JobQueue, JobState, utcnow

log = logging.getLogger("outlayer.coordinator.billing")


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


KEYS = _table(PaymentKey)
CALLS = _table(Call)
JOBS = _table(Job)
CHARGES = _table(HttpsCharge)
EARNINGS = _table(OwnerEarnings)
HISTORY = _table(EarningsEntry)
# The statements of a call's hold and settlement, built once: a statement made anew per call
# costs more CPU in SQLAlchemy (building it, then its cache key) than running it does.
# Bound values are named b_* (a name of a column being SET is SQLAlchemy's own).
_KEY_FOR_UPDATE = select_row(KEYS).where(KEYS.c.key_id == bindparam("b_key_id")).with_for_update()
_SET_HELD = (
    update(KEYS).where(KEYS.c.key_id == bindparam("b_key_id")).values(held=bindparam("b_held"))
)
_SET_HELD_AND_BALANCE = _SET_HELD.values(balance=bindparam("b_balance"))
_SET_HELD_AND_UNSETTLED = _SET_HELD.values(unsettled=bindparam("b_unsettled"))
_INSERT_CALL = insert(CALLS)
_CALL_FOR_UPDATE = (
    select_row(CALLS).where(CALLS.c.call_id == bindparam("b_call_id")).with_for_update()
)
_SET_CHARGED = (
    update(CALLS)
    .where(CALLS.c.call_id == bindparam("b_call_id"))
    .values(charged=bindparam("b_charged"), job_id=bindparam("b_job_id"))
)
_SETTLE_JOB = (
    update(JOBS)
    .where(JOBS.c.id == bindparam("b_job_id"), JOBS.c.settled_at.is_(None))
    .values(settled_at=bindparam("b_now"))
)
_INSERT_CHARGE = insert(CHARGES)
_EARNINGS_WHERE = (
    EARNINGS.c.owner == bindparam("b_owner"),
    EARNINGS.c.token_id == bindparam("b_token_id"),
)
_EARNINGS_FOR_UPDATE = select_row(EARNINGS.c.total).where(*_EARNINGS_WHERE).with_for_update()
_INSERT_EARNINGS = insert(EARNINGS)
_SET_EARNINGS = update(EARNINGS).where(*_EARNINGS_WHERE).values(total=bindparam("b_total"))
_INSERT_HISTORY = insert(HISTORY)
SECRET_PREFIX = "olk_"
NEAR = "near"  # a key's token_id when it holds yoctoNEAR
# Compute is not charged for a guest that never ran, nor when the platform failed it: a
# worker_failure is a worker process killed or lost, a host function's bug, retries exhausted
# (a guest's own failures have their own categories: limits, traps, exit codes).
NOT_BILLED = NOT_RUN | {ExecutionErrorType.WORKER_FAILURE}


def unit_name(token_id: str) -> str:
    return "yoctoNEAR" if token_id == NEAR else f"{token_id} (its smallest unit)"


def call_job_key(call_id: str) -> str:
    """The queue key of an HTTPS call's job."""
    return job_key(pb.JobOrigin(https=pb.HttpsCall(call_id=call_id)))


@dataclass(frozen=True)
class Settled:
    charged: int
    result: dict[str, Any]
    token_id: str = NEAR


@dataclass(frozen=True)
class UnitPrices:
    """What compute costs in one unit: base + instructions x per_million_instructions / 10^6
    + ms x per_second / 1000 (+ a build: compile ms x per_compile_second / 1000), rounded up."""

    token_id: str
    base_fee: int
    per_million_instructions: int
    per_second: int
    per_compile_second: int
    max_compile_ms: int

    def cost(self, instructions: int, ms: int) -> int:
        return (
            self.base_fee
            + _ceil_div(instructions * self.per_million_instructions, 10**6)
            + _ceil_div(ms * self.per_second, 1000)
        )

    def compile_fee(self, compile_ms: int) -> int:
        return _ceil_div(min(compile_ms, self.max_compile_ms) * self.per_compile_second, 1000)

    def max_cost(self, limits: ResourceLimits, *, may_build: bool = False) -> int:
        """The worst case of a call with these limits (and a build, for a code source that
        may not be cached yet)."""
        worst = self.cost(limits.max_instructions, int(limits.max_execution_seconds * 1000))
        return worst + (self.compile_fee(self.max_compile_ms) if may_build else 0)


def prices_for(settings: CoordinatorSettings, token_id: str) -> UnitPrices:
    """NEAR keys pay the contract's yoctoNEAR prices; stablecoin keys the USD prices, in the
    coin's smallest unit (the unit of X-Attached-Deposit and of attached_usd on chain)."""
    if token_id == NEAR:
        return UnitPrices(
            NEAR,
            settings.base_fee_yocto,
            settings.per_instruction_yocto * 10**6,
            settings.per_ms_yocto * 1000,
            settings.per_compile_ms_yocto * 1000,
            settings.max_compile_ms,
        )
    return UnitPrices(
        token_id,
        settings.usd_base_fee,
        settings.usd_per_million_instructions,
        settings.usd_per_second,
        settings.usd_per_compile_second,
        settings.max_compile_ms,
    )


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_name(key: Any) -> str:
    """A key as its owner knows it: OWNER/NONCE on chain, the operator's by its id."""
    return f"{key.owner}/{key.nonce}" if key.nonce is not None else str(key.key_id)


def check_may_pay(key: PaymentKey, project: str, hold: int, now_ns: int) -> None:
    """The key's own limits (on-chain keys): refused before anything is held. ``project``:
    OWNER/NAME."""
    name = key_name(key)
    if key.deleted:
        raise OutlayerError(
            ErrorCode.UNAUTHENTICATED, f"payment key {name} was deleted on chain; use another"
        )
    if key.expires_at_ns is not None and now_ns >= key.expires_at_ns:
        raise OutlayerError(
            ErrorCode.PERMISSION_DENIED,
            f"payment key {name} expired at {key.expires_at_ns} ns (unix); create a new key",
        )
    if key.allowed_projects is not None:
        allowed = json.loads(key.allowed_projects)
        if project not in allowed:
            raise OutlayerError(
                ErrorCode.PERMISSION_DENIED,
                f"payment key {name} may pay only for {', '.join(allowed)}, not {project}",
            )
    if key.max_per_call is not None and hold > int(key.max_per_call):
        raise OutlayerError(
            ErrorCode.INSUFFICIENT_BALANCE,
            f"this call may cost up to {hold} ({key.token_id}), above payment key {name}'s "
            f"max_per_call of {key.max_per_call}: lower its limits or its attached deposit",
        )


class Billing:
    def __init__(self, engine: Engine, queue: JobQueue, pricing: CoordinatorSettings) -> None:
        self._engine = engine
        self._queue = queue
        self._pricing = pricing
        self._keys = Lookup(self._load_key)  # a key's identity; its balance is read locked

    def forget_keys(self) -> None:
        self._keys.forget()

    def prices(self, token_id: str) -> UnitPrices:
        return prices_for(self._pricing, token_id)

    def create_key(self, owner: str, balance: int, token_id: str = NEAR) -> tuple[PaymentKey, str]:
        """The operator's override: a key funded off chain (never settled on chain)."""
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        key = PaymentKey(
            key_id="pk_" + uuid.uuid4().hex[:16],
            secret_sha256=_digest(secret),
            owner=owner,
            balance=str(balance),
            held="0",
            created_at=utcnow(),
            token_id=token_id,
        )
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            session.add(key)
        return key, secret

    def key_for(self, secret: str | None) -> PaymentKey:
        """The key a secret names (its id and owner; not a balance to trust: holds and
        charges read that under the row's lock)."""
        if not secret:
            raise OutlayerError(ErrorCode.UNAUTHENTICATED, "send your payment key in X-Payment-Key")
        return self._keys(_digest(secret))

    def _load_key(self, digest: str) -> PaymentKey:
        with Session(self._engine, expire_on_commit=False) as session:
            key = session.exec(select(PaymentKey).where(PaymentKey.secret_sha256 == digest)).first()
        if key is None:
            raise OutlayerError(ErrorCode.UNAUTHENTICATED, "unknown payment key (X-Payment-Key)")
        return key

    def call_for_nonce(self, key_id: str, nonce: str | None, request_sha256: str) -> str | None:
        """The key's earlier call with this nonce, if any; refused (CONFLICT) when that call
        was another request: a nonce names one request."""
        if nonce is None:
            return None
        with Session(self._engine, expire_on_commit=False) as session:
            call = session.exec(
                select(Call).where(Call.key_id == key_id, Call.nonce == nonce)
            ).first()
        if call is None:
            return None
        if call.request_sha256 is not None and call.request_sha256 != request_sha256:
            raise OutlayerError(
                ErrorCode.CONFLICT,
                f"nonce {nonce!r} was used by call {call.call_id} for another request (another "
                f"project, version, input, limits, format, secrets or deposit: "
                f"{call.owner}/{call.project}); a nonce names one request: send this one with "
                "a new nonce",
            )
        return call.call_id

    def job_of(self, call_id: str) -> int:
        """The call's job (0: none, or not queued yet). A call records its job's id only when
        it settles; until then the job is found by the key of its origin."""
        with Session(self._engine, expire_on_commit=False) as session:
            call = session.get(Call, call_id)
        if call is None:
            return 0
        return call.job_id or self._queue.find(call_job_key(call_id)) or 0

    def hold(self, key_id: str, call: Call) -> None:
        """Reserves the call's worst case on the key, and records the call, in one transaction.
        (The hot path in SQLAlchemy Core: a third of the ORM's CPU per call.)"""
        hold = int(call.hold)
        with self._engine.begin() as connection:
            key = connection.execute(_KEY_FOR_UPDATE, {"b_key_id": key_id}).one()
            if key.deleted:  # deleted on chain since it was looked up
                raise OutlayerError(
                    ErrorCode.UNAUTHENTICATED,
                    f"payment key {key_name(key)} was deleted on chain; use another",
                )
            available = int(key.balance) - int(key.unsettled) - int(key.held)
            if available < hold:
                raise OutlayerError(
                    ErrorCode.INSUFFICIENT_BALANCE,
                    f"payment key {key_name(key)} has {available} "
                    f"{unit_name(key.token_id)} available; this call may cost up to {hold} "
                    "(lower its limits, or top the key up)",
                )
            connection.execute(_SET_HELD, {"b_key_id": key_id, "b_held": str(int(key.held) + hold)})
            connection.execute(_INSERT_CALL, call.model_dump())

    def release(self, call_id: str) -> None:
        """Gives a hold back when the call could not be queued."""
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            call = session.get(Call, call_id, with_for_update=True)
            if call is None or call.charged is not None:
                return
            key = session.exec(
                select(PaymentKey).where(PaymentKey.key_id == call.key_id).with_for_update()
            ).one()
            key.held = str(int(key.held) - int(call.hold))
            call.charged = "0"
            session.add(key)
            session.add(call)

    def settle(self, call_id: str, finished: JobState | None = None) -> Settled | None:
        """Charges a finished call once; None while its job is still running. ``finished``:
        the call's job as its waiter last saw it (saves reading it again)."""
        state = finished if finished is not None and finished.result is not None else None
        if state is None:
            job_id = self.job_of(call_id)
            if not job_id:
                if not self._exists(call_id):
                    raise OutlayerError(ErrorCode.NOT_FOUND, f"no call {call_id}")
                return None
            # Read the job before taking the write lock: one connection at a time holds it
            # (SQLite), and a finished job's result never changes.
            state = self._queue.get(job_id)
            if state is None or state.result is None:
                return None
        result = state.result
        assert result is not None  # a finished job's, checked above
        now = utcnow()
        with self._engine.begin() as connection:
            call = connection.execute(_CALL_FOR_UPDATE, {"b_call_id": call_id}).first()
            if call is None or call.job_id not in (0, state.id):
                raise OutlayerError(ErrorCode.NOT_FOUND, f"no call {call_id} for job {state.id}")
            if call.charged is not None:
                return Settled(int(call.charged), result, call.token_id)
            # The result has reached its caller: the job is settled in the same transaction
            # as the charge (one commit, and never one without the other).
            connection.execute(_SETTLE_JOB, {"b_job_id": state.id, "b_now": now})
            compute, deposit = self._charge(call, result)
            charged = compute + deposit
            key = connection.execute(_KEY_FOR_UPDATE, {"b_key_id": call.key_id}).one()
            held = str(int(key.held) - int(call.hold))
            if key.nonce is None:  # the operator's key: its balance is here
                connection.execute(_SET_HELD_AND_BALANCE, {
                    "b_key_id": key.key_id, "b_held": held,
                    "b_balance": str(int(key.balance) - charged),
                })  # fmt: skip
            else:  # an on-chain key: owed until a settlement on chain debits it
                connection.execute(_SET_HELD_AND_UNSETTLED, {
                    "b_key_id": key.key_id, "b_held": held,
                    "b_unsettled": str(int(key.unsettled) + charged),
                })  # fmt: skip
                if charged:
                    connection.execute(_INSERT_CHARGE, {
                        "call_id": call.call_id, "key_id": key.key_id, "key_owner": key.owner,
                        "key_nonce": key.nonce, "project_owner": call.owner,
                        "project_name": call.project, "token_id": key.token_id,
                        "amount": str(deposit), "fee": str(compute), "ledger_id": None,
                        "state": ChargeState.UNSETTLED, "created_at": now,
                    })  # fmt: skip
            settled = {"b_call_id": call_id, "b_charged": str(charged), "b_job_id": state.id}
            connection.execute(_SET_CHARGED, settled)
            if deposit:
                self._credit(connection, call, deposit, now)
        return Settled(charged, result, call.token_id)

    def _charge(self, call: Any, result: dict[str, Any]) -> tuple[int, int]:
        """(compute, deposit to the owner) a finished call costs."""
        used = result.get("resources_used") or {}
        prices = self.prices(call.token_id)
        compute = min(
            prices.cost(int(used.get("instructions", 0)), int(used.get("time_ms", 0)))
            + prices.compile_fee(int(used.get("compile_ms", 0))),
            int(call.max_cost),
        )
        error = result.get("error") or {}
        if error.get("type") in NOT_BILLED:  # never ran, or the platform failed it
            compute = 0
        attached = int(call.attached_deposit) if result.get("status") == "success" else 0
        # The guest may give part of the attached payment back (outlayer.refund_usd).
        refund = min(int(result.get("refund_usd") or 0), attached)
        return compute, attached - refund

    @staticmethod
    def _credit(connection: Connection, call: Any, deposit: int, now: datetime) -> None:
        """The project owner's earnings: the total per unit (locked) and the entry."""
        where = {"b_owner": call.owner, "b_token_id": call.token_id}
        total = connection.execute(_EARNINGS_FOR_UPDATE, where).scalar()
        if total is None:
            connection.execute(_INSERT_EARNINGS, {
                "owner": call.owner, "token_id": call.token_id, "total": str(deposit)
            })  # fmt: skip
        else:
            connection.execute(_SET_EARNINGS, {**where, "b_total": str(int(total) + deposit)})
        connection.execute(_INSERT_HISTORY, {
            "owner": call.owner, "call_id": call.call_id,
            "project": f"{call.owner}/{call.project}", "amount": str(deposit),
            "payer_key_id": call.key_id, "created_at": now, "token_id": call.token_id,
            "source": "https", "request_id": None,
        })  # fmt: skip

    def holding(self, call_id: str) -> bool:
        """Whether the call still holds its hold (neither charged nor released)."""
        with Session(self._engine) as session:
            call = session.get(Call, call_id)
            return call is not None and call.charged is None

    def _exists(self, call_id: str) -> bool:
        with Session(self._engine) as session:
            return session.get(Call, call_id) is not None

    def earnings(self, owner: str) -> tuple[dict[str, int], list[EarningsEntry]]:
        """An owner's HTTPS earnings per unit, and each of them."""
        with Session(self._engine, expire_on_commit=False) as session:
            totals = session.exec(select(OwnerEarnings).where(OwnerEarnings.owner == owner)).all()
            history = session.exec(
                select(EarningsEntry)
                .where(EarningsEntry.owner == owner, EarningsEntry.source == "https")
                .order_by(col(EarningsEntry.id))
            ).all()
            return {t.token_id: int(t.total) for t in totals}, list(history)


# The longest an HTTPS call waits for its result (public.MAX_WAIT_S).
CALL_MAX_WAIT_S = 60.0
SWEEP_BATCH = 200


class HoldSweeper:
    """Settles the holds that no caller came back for, exactly once.

    A call settles when its caller reads the result; one whose caller went away (the edge or
    this coordinator restarted mid-call, a client that never asks again) would keep its hold
    for ever. Every ``interval_s``: a call whose job has finished is settled as a read would
    settle it (charged what it used, once: ``Billing.settle`` decides under the call's row
    lock, so a sweep racing a reader cannot charge twice); a call that never got a job (the
    coordinator died between the hold and the queue) is released once it is older than the
    longest wait plus a lease. A call whose job is still queued or running keeps its hold: it
    may still run and be charged (a silent worker's job ends, at worst, as an unbilled
    worker_failure)."""

    def __init__(self, billing: Billing, *, lease_seconds: float, interval_s: float) -> None:
        self._billing = billing
        self._stale_after = timedelta(seconds=CALL_MAX_WAIT_S + lease_seconds)
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sweep_once(self) -> int:
        """One pass; returns how many holds it settled or released."""
        billing = self._billing
        with Session(billing._engine, expire_on_commit=False) as session:
            open_calls = session.exec(
                select(Call)
                .where(col(Call.charged).is_(None))
                .order_by(col(Call.created_at))
                .limit(SWEEP_BATCH)
            ).all()
        done = 0
        stale_before = utcnow() - self._stale_after
        for call in open_calls:
            try:
                job_id = call.job_id or billing._queue.find(call_job_key(call.call_id))
                if job_id:
                    state = billing._queue.get(job_id)
                    if state is not None and state.result is not None:
                        settled = billing.settle(call.call_id)
                        log.info(
                            "swept call %s: charged %s", call.call_id, settled and settled.charged
                        )
                        done += 1
                elif call.created_at < stale_before:
                    billing.release(call.call_id)
                    log.info("swept call %s: it never got a job; hold released", call.call_id)
                    done += 1
            except Exception:  # one bad row must not stop the sweep of the others
                log.exception("sweeping call %s failed; trying again next pass", call.call_id)
        return done

    def start(self) -> HoldSweeper:
        self._thread = threading.Thread(target=self._run, name="hold-sweeper", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sweep_once()
            except Exception:  # the database is away for a moment: sweep again later
                log.exception("the hold sweep failed; trying again in %g s", self._interval_s)
            self._stop.wait(self._interval_s)
