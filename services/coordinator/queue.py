"""The job queue: enqueue once, lease (FOR UPDATE SKIP LOCKED), heartbeat, complete once, retry.

A lease that stops heartbeating is taken back when it expires and the job is retried, up to
``max_attempts``; after that the job fails with a ``worker_failure`` result. Completion is
idempotent: the first completion wins, later ones (a worker that lost its lease and finished
anyway, a retried request) get the stored result back.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from outlayer.errors import ExecutionErrorType
from outlayer.result import ExecutionResult
from services.coordinator.models import Job, JobStatus


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
    ) -> None:
        self._engine = engine
        # Woken whenever a job finishes in this process, so a waiting caller needs no polling
        # (another coordinator's completions are still seen, at the wait's poll interval).
        self._finished = threading.Condition()
        self._queued = threading.Condition()  # woken on enqueue, for long-polling leases
        self._listeners: list[Callable[[int], None]] = []  # told each job id that finishes
        self._lease = timedelta(seconds=lease_seconds)
        self._max_attempts = max_attempts
        self._clock = clock

    def enqueue(
        self, job: JobSpec, finished_with: dict[str, Any] | None = None, *, compiling: bool = False
    ) -> int:
        """Queues a job; the same ``dedupe_key`` again returns the first job's id.

        ``finished_with``: a job that is already decided (say, its source cannot be built) is
        recorded as failed with this result, so it is settled like any other. ``compiling``: the
        job waits for its module's build (``compiled`` queues it, ``finish_unrun`` ends it)."""
        with Session(self._engine) as session, session.begin():
            existing = session.exec(select(Job).where(Job.dedupe_key == job.dedupe_key)).first()
            if existing is not None:
                assert existing.id is not None
                return existing.id
            row = Job(
                dedupe_key=job.dedupe_key,
                kind=job.kind,
                priority=job.priority,
                spec_json=json.dumps(job.spec),
                max_attempts=self._max_attempts,
                created_at=self._clock(),
            )
            if finished_with is not None:
                self._finish(row, JobStatus.FAILED, finished_with)
            elif compiling:
                row.status = JobStatus.COMPILING
            session.add(row)
            session.flush()
            assert row.id is not None
            job_id = row.id
        with self._queued:
            self._queued.notify_all()
        return job_id

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
        with self._queued:
            self._queued.notify_all()
        return True

    def finish_unrun(self, job_id: int, result: dict[str, Any]) -> bool:
        """A compiling job ends without running (its build failed, or ran past the deadline)."""
        with Session(self._engine) as session, session.begin():
            row = self._locked(session, job_id)
            if row is None or row.status != JobStatus.COMPILING:
                return False
            self._finish(row, JobStatus.FAILED, result)
            session.add(row)
        self._notify(job_id)
        return True

    def find(self, dedupe_key: str) -> int | None:
        with Session(self._engine) as session:
            row = session.exec(select(Job).where(Job.dedupe_key == dedupe_key)).first()
            return None if row is None else row.id

    def lease(self, worker: str) -> LeasedJob | None:
        """The most valuable queued job, leased to ``worker``; None when the queue is empty."""
        with Session(self._engine) as session, session.begin():
            self._reclaim(session)
            row = session.exec(
                select(Job)
                .where(Job.status == JobStatus.QUEUED)
                .order_by(col(Job.priority).desc(), col(Job.id))
                .limit(1)
                .with_for_update(skip_locked=True)
            ).first()
            if row is None:
                return None
            row.status = JobStatus.LEASED
            row.lease_owner = worker
            row.lease_expires_at = self._clock() + self._lease
            row.attempts += 1
            session.add(row)
            assert row.id is not None
            return LeasedJob(
                row.id, row.kind, json.loads(row.spec_json), row.attempts, row.lease_expires_at
            )

    def lease_waiting(self, worker: str, timeout_s: float, poll_s: float = 0.5) -> LeasedJob | None:
        """Like :meth:`lease`, but waits up to ``timeout_s`` for a job to be queued."""
        deadline = time.monotonic() + timeout_s
        while True:
            leased = self.lease(worker)
            remaining = deadline - time.monotonic()
            if leased is not None or remaining <= 0:
                return leased
            with self._queued:
                self._queued.wait(min(remaining, poll_s))

    def heartbeat(self, job_id: int, worker: str) -> bool:
        """Extends the lease; False when ``worker`` no longer holds it (stop working on it)."""
        with Session(self._engine) as session, session.begin():
            row = self._locked(session, job_id)
            if row is None or row.status != JobStatus.LEASED or row.lease_owner != worker:
                return False
            row.lease_expires_at = self._clock() + self._lease
            session.add(row)
            return True

    def complete(self, job_id: int, worker: str, result: dict[str, Any]) -> Completion:
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
        self._notify(job_id)
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
        self._notify(job_id)
        return state

    def wait_finished(self, job_id: int, timeout_s: float, poll_s: float = 0.25) -> JobState | None:
        """The job's state once it is done or failed, or its state when ``timeout_s`` passes."""
        deadline = time.monotonic() + timeout_s
        while True:
            state = self.get(job_id)
            remaining = deadline - time.monotonic()
            if state is None or state.result is not None or remaining <= 0:
                return state
            with self._finished:
                self._finished.wait(min(remaining, poll_s))

    def on_finished(self, listener: Callable[[int], None]) -> None:
        """Calls ``listener(job_id)`` whenever a job finishes in this process (a waiter per job
        is woken alone, instead of every waiter reading the database)."""
        self._listeners.append(listener)

    def _notify(self, job_id: int) -> None:
        for listener in self._listeners:
            listener(job_id)
        with self._finished:
            self._finished.notify_all()

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

    def _reclaim(self, session: Session) -> None:
        expired = session.exec(
            select(Job)
            .where(Job.status == JobStatus.LEASED, col(Job.lease_expires_at) < self._clock())
            .with_for_update(skip_locked=True)
        ).all()
        for row in expired:
            if row.attempts >= row.max_attempts:
                message = (
                    f"no worker finished the job in {row.attempts} attempts "
                    "(each stopped heartbeating)"
                )
                self._finish(row, JobStatus.FAILED, _worker_failure(message))
            else:
                row.status = JobStatus.QUEUED
                row.lease_owner = None
                row.lease_expires_at = None
            session.add(row)

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
