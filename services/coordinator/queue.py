"""The job queue: enqueue once, lease (FOR UPDATE SKIP LOCKED), heartbeat, complete once, retry.

A lease that stops heartbeating is taken back when it expires and the job is retried, up to
``max_attempts``; after that the job fails with a ``worker_failure`` result. Completion is
idempotent: the first completion wins, later ones (a worker that lost its lease and finished
anyway, a retried request) get the stored result back.

The hot path (enqueue, lease, heartbeat, complete) is one SQL statement each, in Core, not the
ORM: a lease is ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1) RETURNING``,
a completion an ``UPDATE ... WHERE status NOT IN (done, failed)`` (zero rows: someone else
finished it first). On PostgreSQL each runs on its own (autocommit: one round trip, no
BEGIN/COMMIT); on SQLite inside ``BEGIN IMMEDIATE`` (see database.py). Expired leases are
looked for at most every ``reclaim_every_s`` (of the queue's clock), not on every lease.
Wake-ups (a job queued, a job finished) go through :mod:`services.coordinator.events`:
across replicas on PostgreSQL (LISTEN/NOTIFY), in process on SQLite.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, Table, bindparam, not_, update
from sqlalchemy import select as core_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, select

from outlayer.errors import ExecutionErrorType
from outlayer.result import ExecutionResult
from services.coordinator.database import relaxed_engine
from services.coordinator.events import JobEvents, PgJobEvents
from services.coordinator.models import Job, JobStatus

JOBS: Table = Job.__table__  # type: ignore[attr-defined]
FINISHED = (JobStatus.DONE.value, JobStatus.FAILED.value)


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)  # stored naive, always UTC


@dataclass(frozen=True)
class JobSpec:
    dedupe_key: str
    kind: str
    spec: dict[str, Any]
    priority: int = 0


@dataclass(frozen=True)
class LeasedJob:
    id: int
    kind: str
    spec: dict[str, Any]
    attempt: int
    lease_expires_at: datetime


@dataclass(frozen=True)
class JobState:
    id: int
    status: JobStatus
    attempts: int
    result: dict[str, Any] | None
    dedupe_key: str = ""
    settled: bool = False


@dataclass(frozen=True)
class Completion:
    result: dict[str, Any]
    first: bool  # False: the job was already resolved; ``result`` is the stored one


class JobQueue:
    def __init__(
        self,
        engine: Engine,
        *,
        lease_seconds: float = 30.0,
        max_attempts: int = 3,
        clock: Callable[[], datetime] = utcnow,
        events: JobEvents | None = None,
        reclaim_every_s: float = 1.0,
    ) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        # One statement, one round trip on PostgreSQL; BEGIN IMMEDIATE around it on SQLite.
        self._single = (
            engine.execution_options(isolation_level="AUTOCOMMIT") if self._postgres else engine
        )
        # Leases and heartbeats commit without waiting for the disk (see relaxed_engine).
        self._relaxed = relaxed_engine(engine) if self._postgres else engine
        if events is None:
            url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            events = PgJobEvents(url) if self._postgres else JobEvents()
        self.events = events
        self._lease = timedelta(seconds=lease_seconds)
        self._max_attempts = max_attempts
        self._clock = clock
        self._reclaim_every = timedelta(seconds=min(reclaim_every_s, lease_seconds / 2))
        self._next_reclaim: datetime | None = None
        self._statements = _Statements(engine.dialect.name)

    def close(self) -> None:
        """Stops the queue's background wake-ups and its own connections (the engine it was
        given is the caller's to dispose)."""
        self.events.close()
        if self._relaxed is not self._engine:
            self._relaxed.dispose()

    @contextmanager
    def _statement(self, *, durable: bool = True) -> Iterator[Connection]:
        with (self._single if durable else self._relaxed).begin() as connection:
            yield connection

    def enqueue(
        self, job: JobSpec, finished_with: dict[str, Any] | None = None, *, compiling: bool = False
    ) -> int:
        """Queues a job; the same ``dedupe_key`` again returns the first job's id.

        ``finished_with``: a job that is already decided (say, its source cannot be built) is
        recorded as failed with this result, so it is settled like any other. ``compiling``: the
        job waits for its module's build (``compiled`` queues it, ``finish_unrun`` ends it)."""
        now = self._clock()
        values: dict[str, Any] = {
            "dedupe_key": job.dedupe_key,
            "kind": job.kind,
            "status": JobStatus.QUEUED.value,
            "priority": job.priority,
            "spec_json": json.dumps(job.spec),
            "attempts": 0,
            "max_attempts": self._max_attempts,
            "created_at": now,
        }
        if finished_with is not None:
            values.update(
                status=JobStatus.FAILED.value,
                result_json=json.dumps(finished_with),
                completed_at=now,
            )
        elif compiling:
            values["status"] = JobStatus.COMPILING.value
        with self._statement() as connection:
            job_id = connection.execute(self._statements.insert, values).scalar()
            if job_id is None:  # the key was queued before: that job
                job_id = connection.execute(
                    self._statements.by_key, {"p_key": job.dedupe_key}
                ).scalar_one()
                return int(job_id)
        if values["status"] == JobStatus.QUEUED.value:
            self.events.notify_queued()
        return int(job_id)

    def compiling(self) -> list[tuple[int, dict[str, Any]]]:
        """The jobs waiting for a build, oldest first: (id, spec)."""
        with Session(self._engine) as session:
            rows = session.exec(
                select(Job).where(Job.status == JobStatus.COMPILING).order_by(col(Job.id))
            ).all()
            return [(row.id, json.loads(row.spec_json)) for row in rows if row.id is not None]

    def compiled(self, job_id: int, spec_update: dict[str, Any]) -> bool:
        """A compiling job's module is built: it is queued to run (False: it was not compiling)."""
        with Session(self._engine) as session, session.begin():
            row = self._locked(session, job_id)
            if row is None or row.status != JobStatus.COMPILING:
                return False
            row.spec_json = json.dumps({**json.loads(row.spec_json), **spec_update})
            row.status = JobStatus.QUEUED
            session.add(row)
        self.events.notify_queued()
        return True

    def finish_unrun(self, job_id: int, result: dict[str, Any]) -> bool:
        """A compiling job ends without running (its build failed, or ran past the deadline)."""
        with Session(self._engine) as session, session.begin():
            row = self._locked(session, job_id)
            if row is None or row.status != JobStatus.COMPILING:
                return False
            self._finish(row, JobStatus.FAILED, result)
            session.add(row)
        self.events.notify_done(job_id)
        return True

    def find(self, dedupe_key: str) -> int | None:
        with Session(self._engine) as session:
            row = session.exec(select(Job).where(Job.dedupe_key == dedupe_key)).first()
            return None if row is None else row.id

    def lease(self, worker: str) -> LeasedJob | None:
        """The most valuable queued job, leased to ``worker``; None when the queue is empty."""
        self._maybe_reclaim()
        expires = self._clock() + self._lease
        with self._statement(durable=False) as connection:
            row = connection.execute(
                self._statements.lease, {"p_worker": worker, "p_expires": expires}
            ).first()
        if row is None:
            return None
        return LeasedJob(row.id, row.kind, json.loads(row.spec_json), row.attempts, expires)

    def lease_waiting(self, worker: str, timeout_s: float, poll_s: float = 0.5) -> LeasedJob | None:
        """Like :meth:`lease`, but waits up to ``timeout_s`` for a job to be queued (woken as
        one is, here or on another replica; the database is looked at every ``poll_s`` too,
        for expired leases and lost notifications)."""
        deadline = time.monotonic() + timeout_s
        while True:
            mark = self.events.queued_mark()  # before looking: nothing queued after is missed
            leased = self.lease(worker)
            remaining = deadline - time.monotonic()
            if leased is not None or remaining <= 0:
                return leased
            self.events.wait_queued(mark, min(remaining, poll_s))

    def heartbeat(self, job_id: int, worker: str) -> bool:
        """Extends the lease; False when ``worker`` no longer holds it (stop working on it)."""
        expires = self._clock() + self._lease
        with self._statement(durable=False) as connection:
            updated = connection.execute(
                self._statements.heartbeat,
                {"p_id": job_id, "p_worker": worker, "p_expires": expires},
            )
            return updated.rowcount == 1

    def complete(self, job_id: int, worker: str, result: dict[str, Any]) -> Completion:
        # The usual case in one statement: an unfinished job that did not wait for a build.
        with self._statement() as connection:
            updated = connection.execute(
                self._statements.complete,
                {"p_id": job_id, "p_result": json.dumps(result), "p_now": self._clock()},
            )
        if updated.rowcount == 1:
            self.events.notify_done(job_id)
            return Completion(result, first=True)
        with Session(self._engine) as session, session.begin():
            row = self._locked(session, job_id)
            if row is None:
                raise KeyError(f"job {job_id} does not exist")
            if row.status in (JobStatus.DONE, JobStatus.FAILED):
                assert row.result_json is not None
                return Completion(json.loads(row.result_json), first=False)
            # The build this job's request caused is part of what it used (compile-then-run).
            # (The spec is parsed only for a job that waited for a build: not on every call.)
            built = '"compile_ms"' in row.spec_json
            compile_ms = int(json.loads(row.spec_json).get("compile_ms") or 0) if built else 0
            if compile_ms:
                used = {**(result.get("resources_used") or {}), "compile_ms": compile_ms}
                result = {**result, "resources_used": used}
            self._finish(row, JobStatus.DONE, result)
            session.add(row)
            completion = Completion(result, first=True)
        self.events.notify_done(job_id)
        return completion

    def fail(self, job_id: int, worker: str, message: str, *, retryable: bool = True) -> JobState:
        """A worker gives up on a job: retried while attempts remain (if retryable)."""
        with Session(self._engine) as session, session.begin():
            row = self._locked(session, job_id)
            if row is None:
                raise KeyError(f"job {job_id} does not exist")
            if row.status == JobStatus.LEASED and row.lease_owner == worker:
                if retryable and row.attempts < row.max_attempts:
                    row.status = JobStatus.QUEUED
                    row.lease_owner = None
                    row.lease_expires_at = None
                else:
                    self._finish(row, JobStatus.FAILED, _worker_failure(message))
                session.add(row)
            state = _state(row)
        if state.status is JobStatus.QUEUED:
            self.events.notify_queued()
        elif state.result is not None:
            self.events.notify_done(job_id)
        return state

    def wait_finished(self, job_id: int, timeout_s: float, poll_s: float = 0.25) -> JobState | None:
        """The job's state once it is done or failed, or its state when ``timeout_s`` passes
        (woken when it finishes, here or on another replica; looked at every ``poll_s`` too)."""
        deadline = time.monotonic() + timeout_s
        with self.events.watch_done(job_id) as finished:  # before looking: no wake-up missed
            while True:
                finished.clear()
                state = self.get(job_id)
                remaining = deadline - time.monotonic()
                if state is None or state.result is not None or remaining <= 0:
                    return state
                finished.wait(min(remaining, poll_s))

    def on_finished(self, listener: Callable[[int], None]) -> None:
        """Calls ``listener(job_id)`` whenever a job finishes, in this process or on another
        replica (a waiter per job is woken alone, instead of every waiter reading the database)."""
        self.events.on_done(listener)

    def get(self, job_id: int) -> JobState | None:
        with Session(self._engine) as session:
            row = session.get(Job, job_id)
            return None if row is None else _state(row)

    def unsettled(self, kind: str, limit: int = 50) -> list[JobState]:
        """Finished jobs of ``kind`` whose result has not been delivered yet, oldest first."""
        with Session(self._engine) as session:
            rows = session.exec(
                select(Job)
                .where(
                    Job.kind == kind,
                    col(Job.settled_at).is_(None),
                    col(Job.status).in_([JobStatus.DONE, JobStatus.FAILED]),
                )
                .order_by(col(Job.completed_at), col(Job.id))
                .limit(limit)
            ).all()
            return [_state(row) for row in rows]

    def acknowledge(self, job_id: int) -> JobState:
        """Records that the job's result reached its caller (idempotent)."""
        with Session(self._engine) as session, session.begin():
            row = self._locked(session, job_id)
            if row is None:
                raise KeyError(f"job {job_id} does not exist")
            if row.status not in (JobStatus.DONE, JobStatus.FAILED):
                raise ValueError(f"job {job_id} is {row.status}, not finished")
            if row.settled_at is None:
                row.settled_at = self._clock()
                session.add(row)
            return _state(row)

    def counts(self) -> dict[str, int]:
        with Session(self._engine) as session:
            rows = session.exec(select(Job.status)).all()
        return {status.value: rows.count(status.value) for status in JobStatus}

    # --- internals ------------------------------------------------------------------------------
    def _locked(self, session: Session, job_id: int) -> Job | None:
        return session.exec(select(Job).where(Job.id == job_id).with_for_update()).first()

    def _maybe_reclaim(self) -> None:
        """Takes back expired leases, at most every ``reclaim_every_s`` of the queue's clock."""
        now = self._clock()
        if self._next_reclaim is not None and now < self._next_reclaim:
            return
        self._next_reclaim = now + self._reclaim_every
        with self._statement(durable=False) as connection:
            expired = connection.execute(self._statements.expired, {"p_now": now}).scalars().all()
        if expired:
            self._reclaim(now)

    def _reclaim(self, now: datetime) -> None:
        requeued, failed = False, []
        with Session(self._engine) as session, session.begin():
            expired = session.exec(
                select(Job)
                .where(Job.status == JobStatus.LEASED, col(Job.lease_expires_at) < now)
                .with_for_update(skip_locked=True)
            ).all()
            for row in expired:
                if row.attempts >= row.max_attempts:
                    message = (
                        f"no worker finished the job in {row.attempts} attempts "
                        "(each stopped heartbeating)"
                    )
                    self._finish(row, JobStatus.FAILED, _worker_failure(message))
                    assert row.id is not None
                    failed.append(row.id)
                else:
                    row.status = JobStatus.QUEUED
                    row.lease_owner = None
                    row.lease_expires_at = None
                    requeued = True
                session.add(row)
        if requeued:
            self.events.notify_queued()
        for job_id in failed:
            self.events.notify_done(job_id)

    def _finish(self, row: Job, status: JobStatus, result: dict[str, Any]) -> None:
        row.status = status
        row.result_json = json.dumps(result)
        row.completed_at = self._clock()
        row.lease_expires_at = None


def _worker_failure(message: str) -> dict[str, Any]:
    return ExecutionResult.failure(ExecutionErrorType.WORKER_FAILURE, message).to_json()


def _state(row: Job) -> JobState:
    assert row.id is not None
    result = json.loads(row.result_json) if row.result_json else None
    return JobState(
        row.id,
        JobStatus(row.status),
        row.attempts,
        result,
        row.dedupe_key,
        row.settled_at is not None,
    )


class _Statements:
    """The hot path's statements, built once (SQLAlchemy caches their compiled form)."""

    def __init__(self, dialect: str) -> None:
        t = JOBS.c
        insert = postgresql.insert(JOBS) if dialect == "postgresql" else sqlite.insert(JOBS)
        self.insert = insert.on_conflict_do_nothing(index_elements=[t.dedupe_key]).returning(t.id)
        self.by_key = core_select(t.id).where(t.dedupe_key == bindparam("p_key"))
        best = (
            core_select(t.id)
            .where(t.status == JobStatus.QUEUED.value)
            .order_by(t.priority.desc(), t.id)
            .limit(1)
            .with_for_update(skip_locked=True)  # SQLite: nothing (BEGIN IMMEDIATE holds the lock)
            .scalar_subquery()
        )
        self.lease = (
            update(JOBS)
            .where(t.id == best)
            .values(
                status=JobStatus.LEASED.value,
                lease_owner=bindparam("p_worker"),
                lease_expires_at=bindparam("p_expires"),
                attempts=t.attempts + 1,
            )
            .returning(t.id, t.kind, t.spec_json, t.attempts)
        )
        self.heartbeat = (
            update(JOBS)
            .where(
                t.id == bindparam("p_id"),
                t.status == JobStatus.LEASED.value,
                t.lease_owner == bindparam("p_worker"),
            )
            .values(lease_expires_at=bindparam("p_expires"))
        )
        # A job that waited for a build has its compile_ms added to its result: the slow path.
        self.complete = (
            update(JOBS)
            .where(
                t.id == bindparam("p_id"),
                t.status.not_in(FINISHED),
                not_(t.spec_json.contains('"compile_ms"', autoescape=True)),
            )
            .values(
                status=JobStatus.DONE.value,
                result_json=bindparam("p_result"),
                completed_at=bindparam("p_now"),
                lease_expires_at=None,
            )
        )
        self.expired = (
            core_select(t.id)
            .where(t.status == JobStatus.LEASED.value, t.lease_expires_at < bindparam("p_now"))
            .limit(1)
        )
