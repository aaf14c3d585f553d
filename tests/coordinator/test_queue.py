"""The job queue on SQLite and PostgreSQL: leases, heartbeats, retries, idempotent completion."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text
from sqlmodel import SQLModel

from services.coordinator import JobQueue, JobSpec
from services.coordinator.database import migrate
from services.coordinator.models import JobStatus


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def spec(key: str, priority: int = 0) -> JobSpec:
    return JobSpec(dedupe_key=key, kind="https", spec={"key": key}, priority=priority)


def test_migrations_match_the_models_and_rerun_safely(engine: Engine) -> None:
    migrate(engine)  # a second time: nothing to do
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert diff == []


def test_enqueue_is_idempotent_by_key(engine: Engine) -> None:
    queue = JobQueue(engine)
    first = queue.enqueue(spec("near:outlayer.test:1"))
    assert queue.enqueue(spec("near:outlayer.test:1")) == first
    assert queue.enqueue(spec("near:outlayer.test:2")) != first
    assert queue.counts()["queued"] == 2


def test_lease_takes_the_best_paid_first_then_oldest(engine: Engine) -> None:
    queue = JobQueue(engine)
    cheap = queue.enqueue(spec("a", priority=1))
    rich = queue.enqueue(spec("b", priority=100))
    cheap_too = queue.enqueue(spec("c", priority=1))
    order = [queue.lease("w") for _ in range(3)]
    assert [job.id for job in order if job] == [rich, cheap, cheap_too]
    assert queue.lease("w") is None
    assert order[0] is not None and order[0].spec == {"key": "b"} and order[0].attempt == 1


def test_heartbeat_extends_only_the_holders_lease(engine: Engine) -> None:
    clock = Clock()
    queue = JobQueue(engine, lease_seconds=10, clock=clock)
    job_id = queue.enqueue(spec("a"))
    assert queue.lease("w1") is not None
    clock.advance(8)
    assert queue.heartbeat(job_id, "w1")
    assert not queue.heartbeat(job_id, "w2")
    clock.advance(8)  # 16 s after the lease, 8 after the heartbeat: still held
    assert queue.lease("w2") is None


def test_a_silent_worker_loses_the_job_and_it_is_retried_then_failed(engine: Engine) -> None:
    clock = Clock()
    queue = JobQueue(engine, lease_seconds=10, max_attempts=2, clock=clock)
    job_id = queue.enqueue(spec("a"))
    assert queue.lease("w1") is not None
    clock.advance(11)
    retried = queue.lease("w2")
    assert retried is not None and retried.id == job_id and retried.attempt == 2
    assert not queue.heartbeat(job_id, "w1")  # w1 learns it lost the job
    clock.advance(11)
    assert queue.lease("w3") is None  # attempts used up: failed, not leased again
    state = queue.get(job_id)
    assert state is not None and state.status is JobStatus.FAILED
    assert state.result is not None and state.result["error"]["type"] == "worker_failure"
    assert "2 attempts" in state.result["error"]["message"]


def test_completion_is_idempotent_when_two_workers_race(engine: Engine) -> None:
    clock = Clock()
    queue = JobQueue(engine, lease_seconds=10, clock=clock)
    job_id = queue.enqueue(spec("a"))
    assert queue.lease("slow") is not None
    clock.advance(11)
    assert queue.lease("fast") is not None
    first = queue.complete(job_id, "fast", {"status": "success", "output": "fast"})
    late = queue.complete(job_id, "slow", {"status": "success", "output": "slow"})
    assert first.first and not late.first
    assert late.result == {"status": "success", "output": "fast"}
    state = queue.get(job_id)
    assert state is not None and state.status is JobStatus.DONE
    assert state.result == {"status": "success", "output": "fast"}


def test_fail_requeues_while_attempts_remain(engine: Engine) -> None:
    queue = JobQueue(engine, max_attempts=2)
    job_id = queue.enqueue(spec("a"))
    assert queue.lease("w") is not None
    assert queue.fail(job_id, "w", "executor restarting").status is JobStatus.QUEUED
    assert queue.lease("w") is not None
    final = queue.fail(job_id, "w", "executor restarting")
    assert final.status is JobStatus.FAILED
    assert final.result is not None and "executor restarting" in final.result["error"]["message"]
    other = queue.enqueue(spec("b"))
    assert queue.lease("w") is not None
    assert queue.fail(other, "w", "bad job", retryable=False).status is JobStatus.FAILED


def test_concurrent_workers_never_lease_the_same_job(engine: Engine) -> None:
    queue = JobQueue(engine)
    ids = {queue.enqueue(spec(f"job-{n}")) for n in range(40)}
    leased: list[int] = []
    lock = threading.Lock()

    def work(name: str) -> None:
        while (job := queue.lease(name)) is not None:
            with lock:
                leased.append(job.id)
            queue.complete(job.id, name, {"by": name})

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(leased) == sorted(ids)
    assert queue.counts()["done"] == 40


def test_a_waiting_lease_gets_a_job_queued_while_it_waits(engine: Engine) -> None:
    queue = JobQueue(engine)
    assert queue.lease_waiting("w", 0.1) is None  # nothing queued: gives up after the wait
    timer = threading.Timer(0.2, lambda: queue.enqueue(spec("late")))
    timer.start()
    leased = queue.lease_waiting("w", 30)
    timer.join()
    assert leased is not None and leased.spec == {"key": "late"}


def test_waiting_for_a_result_returns_it_once_completed(engine: Engine) -> None:
    queue = JobQueue(engine)
    job_id = queue.enqueue(spec("a"))
    leased = queue.lease("w")
    assert leased is not None
    pending = queue.wait_finished(job_id, 0.05)
    assert pending is not None and pending.result is None
    timer = threading.Timer(0.2, lambda: queue.complete(job_id, "w", {"status": "success"}))
    timer.start()
    done = queue.wait_finished(job_id, 30)
    timer.join()
    assert done is not None and done.result == {"status": "success"}


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_lease_skips_a_best_job_another_lease_holds_and_takes_the_next(engine: Engine) -> None:
    queue = JobQueue(engine)
    rich = queue.enqueue(spec("rich", priority=9))
    cheap = queue.enqueue(spec("cheap", priority=1))
    with engine.connect() as other:  # a lease in progress elsewhere holds the best job's row
        other.execute(text("SELECT id FROM jobs WHERE id = :id FOR UPDATE"), {"id": rich})
        taken = queue.lease("w")
        assert taken is not None and taken.id == cheap
        other.rollback()
    best = queue.lease("w")
    assert best is not None and best.id == rich
    assert queue.lease("w") is None
    queue.close()


def test_a_backlog_of_one_priority_leases_oldest_first(engine: Engine) -> None:
    queue = JobQueue(engine)
    ids = [queue.enqueue(spec(f"job-{n}", priority=n % 2)) for n in range(20)]
    leased = [job.id for job in iter(lambda: queue.lease("w"), None)]
    assert leased == ids[1::2] + ids[0::2]  # priority 1 first, each priority oldest first
    queue.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_on_sqlite_reading_a_job_does_not_wait_for_the_write_lock(engine: Engine) -> None:
    queue = JobQueue(engine)
    job_id = queue.enqueue(spec("a"))
    with engine.begin() as writer:  # BEGIN IMMEDIATE: another writer holds the lock meanwhile
        writer.execute(text("UPDATE jobs SET priority = 5 WHERE id = :id"), {"id": job_id})
        state = queue.get(job_id)  # would wait for the lock (then fail) were it a transaction
        assert state is not None and state.status is JobStatus.QUEUED and state.result is None
    assert queue.lease("w") is not None
