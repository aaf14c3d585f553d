"""Two coordinator replicas on one PostgreSQL: each a JobQueue on its own engine (own pool, own
LISTEN/NOTIFY connections). Waits are given poll intervals far longer than the failure bound,
so a waiter that returns in time was woken by the other replica's notification."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from psycopg.conninfo import make_conninfo
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from services.coordinator import JobQueue
from services.coordinator.database import StatementConnections, make_engine
from services.coordinator.events import JobEvents, PgJobEvents
from services.coordinator.models import JobStatus
from services.coordinator.queue import JobState, LeasedJob
from tests.coordinator.test_queue import Clock, spec

NEVER_S = 600.0  # a poll interval no test waits out
BOUND_S = 60.0  # failure bound: only a broken wake-up takes this long

postgres_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@dataclass
class Replicas:
    a: JobQueue
    b: JobQueue
    clock: Clock = field(default_factory=Clock)


@pytest.fixture
def replicas(database_url: str, engine: Engine) -> Iterator[Replicas]:
    other = make_engine(database_url)  # replica B: its own pool on the same database
    clock = Clock()
    a = JobQueue(engine, lease_seconds=10, clock=clock)
    b = JobQueue(other, lease_seconds=10, clock=clock)
    yield Replicas(a, b, clock)
    a.close()
    b.close()
    other.dispose()


def in_thread(target: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    answer: list[Any] = []
    thread = threading.Thread(target=lambda: answer.append(target()), daemon=True)
    thread.start()
    return thread, answer


def on_both(replicas: Replicas, target: Callable[[JobQueue, str], None]) -> None:
    """Runs ``target(queue, worker)`` in four threads per replica, all at once, to the end."""
    threads = [
        threading.Thread(target=target, args=(queue, f"{label}{n}"))
        for label, queue in (("a", replicas.a), ("b", replicas.b))
        for n in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def after_first_call(
    monkeypatch: pytest.MonkeyPatch, queue: JobQueue, name: str
) -> threading.Event:
    """Set once ``queue.<name>`` has answered once (the waiter looked and found nothing)."""
    looked = threading.Event()
    original = getattr(queue, name)

    def spy(*args: Any) -> Any:
        answer = original(*args)
        looked.set()
        return answer

    monkeypatch.setattr(queue, name, spy)
    return looked


@postgres_only
def test_postgres_queues_use_notifications_across_replicas(replicas: Replicas) -> None:
    assert isinstance(replicas.a.events, PgJobEvents)
    assert isinstance(replicas.b.events, PgJobEvents)


@postgres_only
def test_a_job_queued_on_one_replica_wakes_a_long_poll_on_the_other(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    looked = after_first_call(monkeypatch, replicas.b, "lease")
    thread, answer = in_thread(lambda: replicas.b.lease_waiting("w", NEVER_S, poll_s=NEVER_S))
    assert looked.wait(BOUND_S), "the long poll never looked at the queue"
    assert answer == []  # nothing queued yet: still waiting
    job_id = replicas.a.enqueue(spec("late"))
    thread.join(BOUND_S)
    assert not thread.is_alive(), "replica B's long poll was not woken by replica A's job"
    leased = answer[0]
    assert isinstance(leased, LeasedJob) and leased.id == job_id and leased.spec == {"key": "late"}


@postgres_only
def test_a_build_finished_on_one_replica_wakes_a_long_poll_on_the_other(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = replicas.a.enqueue(spec("built"), compiling=True)
    looked = after_first_call(monkeypatch, replicas.b, "lease")
    thread, answer = in_thread(lambda: replicas.b.lease_waiting("w", NEVER_S, poll_s=NEVER_S))
    assert looked.wait(BOUND_S)
    assert replicas.a.compiled(job_id, {"wasm_sha256": "ab" * 32})
    thread.join(BOUND_S)
    assert not thread.is_alive(), "a job queued after its build did not wake the other replica"
    assert answer[0].id == job_id and answer[0].spec["wasm_sha256"] == "ab" * 32


@postgres_only
def test_a_completion_on_one_replica_wakes_a_waiter_on_the_other(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    told: list[int] = []
    told_event = threading.Event()

    def tell(job_id: int) -> None:
        told.append(job_id)
        told_event.set()

    replicas.a.on_finished(tell)
    job_id = replicas.a.enqueue(spec("call"))
    looked = after_first_call(monkeypatch, replicas.a, "get")
    thread, answer = in_thread(lambda: replicas.a.wait_finished(job_id, NEVER_S, poll_s=NEVER_S))
    assert looked.wait(BOUND_S), "the waiter never looked at its job"
    leased = replicas.b.lease("w")
    assert leased is not None and leased.id == job_id
    assert replicas.b.complete(job_id, "w", {"status": "success", "output": "hi"}).first
    thread.join(BOUND_S)
    assert not thread.is_alive(), "replica A's waiter was not woken by replica B's completion"
    state = answer[0]
    assert isinstance(state, JobState) and state.status is JobStatus.DONE
    assert state.result == {"status": "success", "output": "hi"}
    assert told_event.wait(BOUND_S) and told == [job_id]  # A's listener, told by B, once


@postgres_only
def test_a_failure_on_one_replica_wakes_a_waiter_on_the_other(
    replicas: Replicas, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = replicas.a.enqueue(spec("doomed"))
    looked = after_first_call(monkeypatch, replicas.a, "get")
    thread, answer = in_thread(lambda: replicas.a.wait_finished(job_id, NEVER_S, poll_s=NEVER_S))
    assert looked.wait(BOUND_S)
    assert replicas.b.lease("w") is not None
    assert replicas.b.fail(job_id, "w", "bad module", retryable=False).status is JobStatus.FAILED
    thread.join(BOUND_S)
    assert not thread.is_alive()
    assert answer[0].status is JobStatus.FAILED
    assert "bad module" in answer[0].result["error"]["message"]


@postgres_only
def test_replicas_leasing_concurrently_never_lease_a_job_twice(replicas: Replicas) -> None:
    ids = {replicas.a.enqueue(spec(f"job-{n}", priority=n % 5)) for n in range(300)}
    leased: list[tuple[int, str]] = []
    firsts: list[bool] = []
    lock = threading.Lock()

    def work(queue: JobQueue, name: str) -> None:
        while (job := queue.lease(name)) is not None:
            completion = queue.complete(job.id, name, {"by": name})
            with lock:
                leased.append((job.id, name))
                firsts.append(completion.first)

    on_both(replicas, work)
    assert sorted(job_id for job_id, _ in leased) == sorted(ids)  # each once, none lost
    assert all(firsts)
    assert {name[0] for _, name in leased} == {"a", "b"}  # both replicas took part
    assert replicas.b.counts()["done"] == 300


@postgres_only
def test_an_expired_lease_is_leased_again_once_across_replicas(replicas: Replicas) -> None:
    job_id = replicas.a.enqueue(spec("slow"))
    first = replicas.a.lease("slow-worker")
    assert first is not None and first.attempt == 1
    replicas.clock.advance(11)  # the lease expired (10 s, no heartbeat)
    start = threading.Barrier(8)
    results: list[tuple[str, LeasedJob | None]] = []
    lock = threading.Lock()

    def try_lease(queue: JobQueue, name: str) -> None:
        start.wait()
        got = queue.lease(name)
        with lock:
            results.append((name, got))

    on_both(replicas, try_lease)
    # One replica takes the lease back (each looks for expired leases); the job is queued once,
    # and exactly one of the eight leases gets it (the one that took it back leases after).
    retried = [(name, job) for name, job in results if job is not None]
    assert len(retried) == 1
    owner, job = retried[0]
    assert job is not None and job.id == job_id and job.attempt == 2 and job.spec == {"key": "slow"}
    assert replicas.a.lease("another") is None and replicas.b.lease("another") is None
    assert not replicas.a.heartbeat(job_id, "slow-worker")  # the first holder lost it
    assert replicas.a.heartbeat(job_id, owner)  # the new one holds it, on either replica
    state = replicas.b.get(job_id)
    assert state is not None and state.status is JobStatus.LEASED and state.attempts == 2
    done = replicas.b.complete(job_id, owner, {"status": "success", "by": "retry"})
    late = replicas.a.complete(job_id, "slow-worker", {"status": "success", "by": "first"})
    assert done.first and not late.first and late.result["by"] == "retry"


def test_in_process_events_wake_a_mark_taken_before_the_notice() -> None:
    events = JobEvents()
    mark = events.queued_mark()
    assert not events.wait_queued(mark, 0.01)  # nothing queued: the wait runs out
    events.notify_queued()
    assert events.wait_queued(mark, BOUND_S)  # queued after the mark: returns at once
    assert not events.wait_queued(events.queued_mark(), 0.01)


def test_in_process_events_wake_the_watchers_of_that_job_only() -> None:
    events = JobEvents()
    told: list[int] = []
    events.on_done(told.append)
    with events.watch_done(1) as one, events.watch_done(2) as two:
        events.notify_done(1)
        assert one.is_set() and not two.is_set()
    assert told == [1]
    thread, answer = in_thread(lambda: events.wait_done(3, BOUND_S))
    while thread.is_alive() and 3 not in events._wakeups._watchers:  # registered: then notify
        thread.join(0.01)
    events.notify_done(3)
    thread.join(BOUND_S)
    assert answer == [True]


@postgres_only
def test_closing_a_queue_stops_its_notification_threads(engine: Engine) -> None:
    queue = JobQueue(engine)
    events = queue.events
    assert isinstance(events, PgJobEvents)
    events.queued_mark()  # starts listening
    queue.enqueue(spec("x"))  # starts sending
    link = events._link
    assert link._listener is not None and link._sender is not None
    queue.close()
    link._listener.join(BOUND_S)
    link._sender.join(BOUND_S)
    assert not link._listener.is_alive() and not link._sender.is_alive()


@postgres_only
def test_only_leases_and_heartbeats_skip_waiting_for_the_disk(database_url: str) -> None:
    url = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conninfo = make_conninfo(url, options="-c application_name=replica-a")
    durable, relaxed = StatementConnections(conninfo), StatementConnections(conninfo, durable=False)
    show = "SELECT current_setting('synchronous_commit'), current_setting('application_name')"
    assert durable.execute(show, {})[0] == [("on", "replica-a")]
    assert relaxed.execute(show, {})[0] == [("off", "replica-a")]  # the URL's own options kept
    durable.close()
    relaxed.close()


@postgres_only
def test_replicas_migrating_an_empty_database_at_once_all_succeed(database_url: str) -> None:
    from services.coordinator.database import migrate

    engines = [make_engine(database_url) for _ in range(3)]
    errors: list[BaseException] = []

    def start(engine: Any) -> None:
        try:
            migrate(engine)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    import time

    deadline = time.monotonic() + BOUND_S
    for thread in threads:
        thread.join(timeout=max(deadline - time.monotonic(), 0))
    stuck = [thread for thread in threads if thread.is_alive()]
    assert not stuck, "replicas migrating together blocked each other"
    for engine in engines:
        engine.dispose()
    assert errors == []
