"""Jobs per second through the coordinator's queue, on SQLite and on PostgreSQL.

Each job is enqueued, then leased and completed, by 1 and 4 worker threads sharing one queue (as
a coordinator's gRPC threads do), with a listener of finished jobs registered as the coordinator's
HTTPS side registers one (on PostgreSQL: LISTEN/NOTIFY running). PostgreSQL is the one on this
machine (a database created for each run, dropped after). Prints the median of ``--runs`` runs.

    python -m bench.queue_throughput [--jobs 2000] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from services.coordinator import JobQueue, JobSpec
from services.coordinator.database import make_engine, migrate
from tests.postgres_db import fresh_database


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{Path(directory) / 'bench.db'}"
        return
    with fresh_database("outlayer_bench") as url:
        yield url


def measure(url: str, workers: int, jobs: int) -> tuple[float, float]:
    """(enqueued jobs/s, leased+completed jobs/s) for one run."""
    engine = make_engine(url)
    migrate(engine)
    queue = JobQueue(engine)
    finished: list[int] = []
    queue.on_finished(finished.append)  # as PublicService does: told every finished job
    began = time.perf_counter()
    for n in range(jobs):
        queue.enqueue(JobSpec(f"bench:{workers}:{n}", "https", {"n": n}, priority=n % 7))
    enqueue_rate = jobs / (time.perf_counter() - began)

    def work(name: str) -> None:
        while (job := queue.lease(name)) is not None:
            queue.complete(job.id, name, {"status": "success"})

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(workers)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    process_rate = jobs / (time.perf_counter() - began)
    assert queue.counts()["done"] == jobs
    queue.close()
    engine.dispose()
    return enqueue_rate, process_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    print(f"queue throughput: {args.jobs} jobs, enqueue then lease+complete, median of {args.runs}")
    print("| database | workers | enqueue jobs/s | lease+complete jobs/s |")
    print("|---|---|---|---|")
    rates: dict[tuple[str, int], float] = {}
    for kind in args.databases.split(","):
        for workers in (1, 4):
            runs = []
            for _ in range(args.runs):
                with database(kind) as url:
                    runs.append(measure(url, workers, args.jobs))
            enqueue = statistics.median(run[0] for run in runs)
            process = statistics.median(run[1] for run in runs)
            rates[(kind, workers)] = process
            print(f"| {kind} | {workers} | {enqueue:,.0f} | {process:,.0f} |", flush=True)
    for kind in args.databases.split(","):
        scaling = rates[(kind, 4)] / rates[(kind, 1)]
        print(f"4 workers / 1 worker on {kind}: {scaling:.2f}x")


if __name__ == "__main__":
    main()
