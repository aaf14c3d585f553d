"""Jobs per second through the coordinator's queue, on SQLite and on PostgreSQL.

Each job is enqueued, leased and completed (three transactions), with 1 and 4 worker threads.
PostgreSQL is the one on this machine (database created for the run, dropped after).
"""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from services.coordinator import JobQueue, JobSpec
from services.coordinator.database import make_engine, migrate
from tests.coordinator.conftest import POSTGRES_URL

JOBS = 400


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{Path(directory) / 'bench.db'}"
        return
    base = make_url(POSTGRES_URL)
    name = f"outlayer_bench_{uuid.uuid4().hex[:8]}"
    admin = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def measure(url: str, workers: int) -> tuple[float, float]:
    engine = make_engine(url)
    migrate(engine)
    queue = JobQueue(engine)
    began = time.perf_counter()
    for n in range(JOBS):
        queue.enqueue(JobSpec(f"bench:{workers}:{n}", "https", {"n": n}, priority=n % 7))
    enqueue_rate = JOBS / (time.perf_counter() - began)

    def work(name: str) -> None:
        while (job := queue.lease(name)) is not None:
            queue.complete(job.id, name, {"status": "success"})

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(workers)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    process_rate = JOBS / (time.perf_counter() - began)
    assert queue.counts()["done"] == JOBS
    engine.dispose()
    return enqueue_rate, process_rate


def main() -> None:
    print(f"queue throughput: {JOBS} jobs, enqueue then lease+complete")
    print("| database | workers | enqueue jobs/s | lease+complete jobs/s |")
    print("|---|---|---|---|")
    rates: dict[tuple[str, int], float] = {}
    for kind in ("sqlite", "postgresql"):
        for workers in (1, 4):
            with database(kind) as url:
                enqueue, process = measure(url, workers)
            rates[(kind, workers)] = process
            print(f"| {kind} | {workers} | {enqueue:,.0f} | {process:,.0f} |")
    print(f"PostgreSQL / SQLite, 4 workers: {rates[('postgresql', 4)] / rates[('sqlite', 4)]:.2f}x")
    scaling = rates[("postgresql", 4)] / rates[("postgresql", 1)]
    print(f"4 workers / 1 worker on PostgreSQL: {scaling:.2f}x")


if __name__ == "__main__":
    main()
