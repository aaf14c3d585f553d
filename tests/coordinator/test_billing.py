"""Billing on its own: what a finished job costs, and the sweeper that settles forgotten holds."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session, select

from outlayer.config import CoordinatorSettings
from outlayer.errors import ExecutionErrorType
from outlayer.result import ExecutionResult, ResourcesUsed
from services.coordinator.billing import Billing, call_job_key
from services.coordinator.models import Call, PaymentKey
from services.coordinator.queue import JobQueue, JobSpec, utcnow

NEAR = 10**24
PRICING = CoordinatorSettings()


def _billing(engine: Engine) -> tuple[Billing, JobQueue]:
    queue = JobQueue(engine, lease_seconds=30)
    return Billing(engine, queue, PRICING), queue


def _held_call(billing: Billing, queue: JobQueue, *, age_s: float = 0.0) -> tuple[str, str, int]:
    key, _ = billing.create_key("alice.near", 10 * NEAR)
    call_id = uuid.uuid4().hex
    max_cost = billing.prices("near").cost(10**9, 60_000)
    call = Call(
        call_id=call_id,
        key_id=key.key_id,
        owner="dev.near",
        project="echo",
        job_id=0,
        hold=str(max_cost),
        max_cost=str(max_cost),
        attached_deposit="0",
        created_at=utcnow() - timedelta(seconds=age_s),
    )
    billing.hold(key.key_id, call)
    # As the public API does: the job's key comes from the call; the call's row is not
    # written again until it settles.
    job_id = queue.enqueue(JobSpec(call_job_key(call_id), "https", {"input": ""}))
    return key.key_id, call_id, job_id


def _key(engine: Engine, key_id: str) -> PaymentKey:
    with Session(engine) as session:
        return session.exec(select(PaymentKey).where(PaymentKey.key_id == key_id)).one()


def _finish(queue: JobQueue, job_id: int, result: ExecutionResult) -> None:
    leased = queue.lease("w")
    assert leased is not None and leased.id == job_id
    queue.complete(job_id, "w", result.to_json())


def test_a_worker_failure_is_not_billed(engine: Engine) -> None:
    """The platform lost the worker (killed, crashed): the caller pays nothing."""
    billing, queue = _billing(engine)
    key_id, call_id, job_id = _held_call(billing, queue)
    failure = ExecutionResult.failure(
        ExecutionErrorType.WORKER_FAILURE,
        "the worker process ended before it returned a result (killed by signal 9)",
        ResourcesUsed(instructions=5_000_000, time_ms=900, memory_bytes=0),
    )
    _finish(queue, job_id, failure)
    settled = billing.settle(call_id)
    assert settled is not None and settled.charged == 0
    key = _key(engine, key_id)
    assert (int(key.balance), int(key.held)) == (10 * NEAR, 0)


def test_a_guest_failure_is_billed(engine: Engine) -> None:
    billing, queue = _billing(engine)
    key_id, call_id, job_id = _held_call(billing, queue)
    used = ResourcesUsed(instructions=5_000_000, time_ms=900, memory_bytes=0)
    _finish(queue, job_id, ExecutionResult.failure(ExecutionErrorType.RUNTIME_ERROR, "trap", used))
    settled = billing.settle(call_id)
    assert settled is not None and settled.charged == billing.prices("near").cost(5_000_000, 900)
    assert int(_key(engine, key_id).balance) == 10 * NEAR - settled.charged
