"""The job queue: enqueue once, lease (FOR UPDATE SKIP LOCKED), heartbeat, complete once, retry.

A lease that stops heartbeating is taken back when it expires and the job is retried, up to
``max_attempts``; after that the job fails with a ``worker_failure`` result. Completion is
idempotent: the first completion wins, later ones (a worker that lost its lease and finished
anyway, a retried request) get the stored result back.

The hot path (enqueue, lease, heartbeat, complete, get) is one SQL statement each, in Core,
not the ORM: a lease is ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 1)
RETURNING``, a completion an ``UPDATE ... WHERE status NOT IN (done, failed)`` (zero rows:
someone else finished it first, or the job waited for a build: the locked slow path). On
PostgreSQL each runs on its own (autocommit: one round trip, no BEGIN/COMMIT) on the queue's
own prepared connections, leases and heartbeats without waiting for the disk (see
database.StatementConnections); on SQLite inside ``BEGIN IMMEDIATE``, reads in autocommit.
Expired leases are looked for at most every ``reclaim_every_s`` (of the queue's clock), not
on every lease. Wake-ups (a job queued, a job finished) go through
:mod:`services.coordinator.events`: across replicas on PostgreSQL (LISTEN/NOTIFY), in process
on SQLite. Docs: docs/performance.md, "Coordinator: jobs per second through the queue".
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, Engine, Table, UpdateBase, bindparam, func, not_, update
from sqlalchemy import select as core_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.expression import Select
from sqlmodel import Session, col, select

from outlayer.errors import ExecutionErrorType
from outlayer.result import ExecutionResult
from services.coordinator.database import StatementConnections
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
        postgres = engine.dialect.name == "postgresql"
        url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        self._run = _Statements(engine, url if postgres else None)
        if events is None:
            events = PgJobEvents(url) if postgres else JobEvents()
        self.events = events
        self._lease = timedelta(seconds=lease_seconds)
        self._max_attempts = max_attempts
        self._clock = clock
        self._reclaim_every = timedelta(seconds=min(reclaim_every_s, lease_seconds / 2))
        self._next_reclaim: datetime | None = None

    def close(self) -> None:
        """Stops the queue's background wake-ups and its own connections (the engine it was
        given is the caller's to dispose)."""
        self.events.close()
        self._run.close()

    def enqueue(
        self, job: JobSpec, finished_with: dict[str, Any] | None = None, *, compiling: bool = False
    ) -> int:
        """Queues a job; the same ``dedupe_key`` again returns the first job's id.

        ``finished_with``: a job that is already decided (say, its source cannot be built) is
        recorded as failed with this result, so it is settled like any other. ``compiling``: the
        job waits for its module's build (``compiled`` queues it, ``finish_unrun`` ends it)."""
        now = self._clock()
        status = JobStatus.QUEUED
        if finished_with is not None:
            status = JobStatus.FAILED
        elif compiling:
            status = JobStatus.COMPILING
        rows, _ = self._run("insert", {
            "p_key": job.dedupe_key, "p_kind": job.kind, "p_status": status.value,
            "p_priority": job.priority, "p_spec": json.dumps(job.spec),
            "p_result": None if finished_with is None else json.dumps(finished_with),
            "p_max_attempts": self._max_attempts, "p_now": now,
            "p_completed": None if finished_with is None else now,
        })  # fmt: skip
        if not rows:  # the key was queued before: that job
            rows, _ = self._run("by_key", {"p_key": job.dedupe_key})
            return int(rows[0][0])
        if status is JobStatus.QUEUED:
            self.events.notify_queued()
        return int(rows[0][0])

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
        rows, _ = self._run("lease", {"p_worker": worker, "p_expires": expires}, durable=False)
        if not rows:
            return None
        job_id, kind, spec_json, attempts = rows[0]
        return LeasedJob(job_id, kind, json.loads(spec_json), attempts, expires)

    def lease_waiting(
        self,
        worker: str,
        timeout_s: float,
        poll_s: float = 0.5,
        wanted: Callable[[], bool] | None = None,
    ) -> LeasedJob | None:
        """Like :meth:`lease`, but waits up to ``timeout_s`` for a job to be queued (woken as
        one is, here or on another replica; the database is looked at every ``poll_s`` too,
        for expired leases and lost notifications). ``wanted``: asked before each look; once
        it says False (the worker that asked has gone away), no job is leased for it."""
        deadline = time.monotonic() + timeout_s
        while True:
            mark = self.events.queued_mark()  # before looking: nothing queued after is missed
            if wanted is not None and not wanted():
                return None
            leased = self.lease(worker)
            remaining = deadline - time.monotonic()
            if leased is not None or remaining <= 0:
                return leased
            self.events.wait_queued(mark, min(remaining, poll_s))

    def release(self, job_id: int, worker: str) -> bool:
        """Gives back a lease no work was done under (its worker went away before it heard of
        it): the job is queued again, and the attempt does not count. False if ``worker`` no
        longer held it."""
        with Session(self._engine) as session, session.begin():
            row = self._locked(session, job_id)
            if row is None or row.status != JobStatus.LEASED or row.lease_owner != worker:
                return False
            row.status = JobStatus.QUEUED
            row.lease_owner = None
            row.lease_expires_at = None
            row.attempts = max(row.attempts - 1, 0)
            session.add(row)
        self.events.notify_queued()
        return True

    def heartbeat(self, job_id: int, worker: str) -> bool:
        """Extends the lease; False when ``worker`` no longer holds it (stop working on it)."""
        expires = self._clock() + self._lease
        params = {"p_id": job_id, "p_worker": worker, "p_expires": expires}
        _, touched = self._run("heartbeat", params, durable=False)
        return touched == 1

    def complete(self, job_id: int, worker: str, result: dict[str, Any]) -> Completion:
        # The usual case in one statement: an unfinished job that did not wait for a build.
        params = {"p_id": job_id, "p_result": json.dumps(result), "p_now": self._clock()}
        _, touched = self._run("complete", params)
        if touched == 1:
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
        rows, _ = self._run("get", {"p_id": job_id}, read=True)
        if not rows:
            return None
        _, status, attempts, result_json, dedupe_key, settled_at = rows[0]
        result = json.loads(result_json) if result_json else None
        return JobState(
            job_id, JobStatus(status), attempts, result, dedupe_key, settled_at is not None
        )

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
        expired, _ = self._run("expired", {"p_now": now}, read=True)
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
    """The hot path's statements, each one round trip: built once in Core; on PostgreSQL run
    as compiled SQL on :class:`StatementConnections` (prepared, autocommit), on SQLite through
    the engine (inside BEGIN IMMEDIATE)."""

    def __init__(self, engine: Engine, postgres_url: str | None) -> None:
        self._engine = engine
        self._reader = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._statements = _hot_path(engine.dialect.name)
        self._durable: StatementConnections | None = None
        self._relaxed: StatementConnections | None = None
        self._compiled: dict[str, tuple[str, dict[str, Any]]] = {}
        if postgres_url is not None:
            self._durable = StatementConnections(postgres_url)
            self._relaxed = StatementConnections(postgres_url, durable=False)
            for name, statement in self._statements.items():
                compiled = statement.compile(
                    dialect=engine.dialect, compile_kwargs={"render_postcompile": True}
                )
                # The statement's own values (a LIMIT, the IN list), and ours left to each call.
                defaults = compiled.construct_params(_check=False)
                self._compiled[name] = str(compiled), dict(defaults)

    def __call__(
        self, name: str, params: dict[str, Any], *, durable: bool = True, read: bool = False
    ) -> tuple[Sequence[Any], int]:
        """(rows returned, rows touched). ``durable=False``: a lease or heartbeat, whose commit
        need not wait for the disk (see StatementConnections). ``read``: a statement that only
        reads (on SQLite: no write lock)."""
        if self._durable is not None and self._relaxed is not None:
            sql, defaults = self._compiled[name]
            connections = self._durable if durable and not read else self._relaxed
            return connections.execute(sql, {**defaults, **params})
        if read:
            with self._reader.connect() as connection:
                return connection.execute(self._statements[name], params).all(), 0
        with self._engine.begin() as connection:
            result = connection.execute(self._statements[name], params)
            return (result.all() if result.returns_rows else []), result.rowcount

    def close(self) -> None:
        for connections in (self._durable, self._relaxed):
            if connections is not None:
                connections.close()


def _hot_path(dialect: str) -> dict[str, UpdateBase | Select[Any]]:
    t = JOBS.c
    insert = postgresql.insert(JOBS) if dialect == "postgresql" else sqlite.insert(JOBS)
    queued = t.status == JobStatus.QUEUED.value
    # The best job: the oldest of the highest priority queued, found through the index on
    # (status, priority, id) in two probes, whatever the backlog (ORDER BY priority DESC, id
    # would sort a whole priority's backlog on every lease). ">= top" is "= top" (the same
    # snapshot has nothing higher) written so that only that index gives the order asked for.
    # Should every job of that priority be locked by leases in progress, the best of the rest.
    top = core_select(func.max(t.priority)).where(queued).scalar_subquery()
    best_of_top = (
        core_select(t.id)
        .where(queued, t.priority >= top)
        .order_by(t.priority, t.id)
        .limit(1)
        .with_for_update(skip_locked=True)  # SQLite: nothing (BEGIN IMMEDIATE holds the lock)
        .scalar_subquery()
    )
    best_of_all = (
        core_select(t.id)
        .where(queued)
        .order_by(t.priority.desc(), t.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    best = func.coalesce(best_of_top, best_of_all)  # the second runs only if the first is NULL
    return {
        "insert": insert.values(
            dedupe_key=_param("p_key"),
            kind=_param("p_kind"),
            status=_param("p_status"),
            priority=_param("p_priority"),
            spec_json=_param("p_spec"),
            result_json=_param("p_result"),
            attempts=0,
            max_attempts=_param("p_max_attempts"),
            created_at=_param("p_now"),
            completed_at=_param("p_completed"),
        )
        .on_conflict_do_nothing(index_elements=[t.dedupe_key])
        .returning(t.id),
        "by_key": core_select(t.id).where(t.dedupe_key == _param("p_key")),
        "lease": update(JOBS)
        .where(t.id == best)
        .values(
            status=JobStatus.LEASED.value,
            lease_owner=_param("p_worker"),
            lease_expires_at=_param("p_expires"),
            attempts=t.attempts + 1,
        )
        .returning(t.id, t.kind, t.spec_json, t.attempts),
        "heartbeat": update(JOBS)
        .where(
            t.id == _param("p_id"),
            t.status == JobStatus.LEASED.value,
            t.lease_owner == _param("p_worker"),
        )
        .values(lease_expires_at=_param("p_expires")),
        # A job that waited for a build has its compile_ms added to its result: the slow path.
        "complete": update(JOBS)
        .where(
            t.id == _param("p_id"),
            t.status.not_in(FINISHED),
            not_(t.spec_json.contains('"compile_ms"', autoescape=True)),
        )
        .values(
            status=JobStatus.DONE.value,
            result_json=_param("p_result"),
            completed_at=_param("p_now"),
            lease_expires_at=None,
        ),
        "get": core_select(
            t.id, t.status, t.attempts, t.result_json, t.dedupe_key, t.settled_at
        ).where(t.id == _param("p_id")),
        "expired": core_select(t.id)
        .where(t.status == JobStatus.LEASED.value, t.lease_expires_at < _param("p_now"))
        .limit(1),
    }


def _param(name: str) -> BindParameter[Any]:
    """A value each call gives (not required at compile time: the SQL is compiled ahead)."""
    return bindparam(name, required=False)
