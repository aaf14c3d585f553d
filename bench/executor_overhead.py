"""Per-execution overhead on the critical path: a hello guest, with and without process isolation.

Prints the median latency of each mode and their ratio. The isolated mode is what services use
(a pre-started single-use process per execution); the in-process mode exists only to measure
what that isolation costs. "Pool warm" calls wait until every spare worker is ready: at once
(a service kept busy, but not saturated), or after a pause (an idle service; a call after a pause
runs on cold CPU caches, so the in-process mode is measured paced alike). Back-to-back calls
exhaust the pool: each waits for a new worker.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

import wasmtime

from bench._common import bench_settings, summary, timed
from services.executor import ExecutionJob, Executor

REPEAT = 60
PAUSE_S = 0.25
HELLO = Path(__file__).resolve().parent.parent / "tests" / "guests" / "hello.wat"


def _paced(executor: Executor, job: ExecutionJob, pause: float) -> list[float]:
    samples: list[float] = []
    for _ in range(REPEAT):
        time.sleep(pause)
        executor.wait_warm()  # every spare worker started and ready: the pool is warm
        samples += timed(lambda: executor.execute(job), 1)
    return samples


def main() -> None:
    wasm = bytes(wasmtime.wat2wasm(HELLO.read_text()))
    job = ExecutionJob(wasm)
    settings = bench_settings()
    print(f"executor overhead: hello guest ({len(wasm)} bytes), {REPEAT} runs each")

    with Executor(settings, isolated=False) as in_process:
        in_process.execute(job)  # compile once into the module cache
        direct = timed(lambda: in_process.execute(job), REPEAT)
        direct_paced = _paced(in_process, job, PAUSE_S)
    with Executor(settings, isolated=True) as isolated:
        isolated.execute(job)  # the pool's zygote now preloads the module
        warm = _paced(isolated, job, 0.0)
        paced = _paced(isolated, job, PAUSE_S)
        back_to_back = timed(lambda: isolated.execute(job), REPEAT // 3)

    rows = [
        ("in-process, back to back", direct),
        (f"in-process, after a {PAUSE_S:g} s pause", direct_paced),
        ("isolated, pool warm", warm),
        (f"isolated, pool warm, after a {PAUSE_S:g} s pause", paced),
        ("isolated, back to back (pool exhausted)", back_to_back),
    ]
    for label, samples in rows:
        print(f"  {label:<46} {summary(samples)}")
    direct_p50 = statistics.median(direct)
    print(f"  isolation cost, warm pool: {statistics.median(warm) / direct_p50:.1f}x in-process")
    paused = statistics.median(paced) / statistics.median(direct_paced)
    print(f"  isolation cost, warm pool after a pause: {paused:.1f}x in-process after a pause")
    exhausted = statistics.median(back_to_back) / direct_p50
    print(f"  isolation cost, pool exhausted: {exhausted:.1f}x in-process")
    sys.stdout.flush()
    # The in-process executor ran WASI in this process: wasmtime's runtime threads (tokio) hold
    # Python thread states, and interpreter shutdown can abort on them. Nothing is left to do.
    os._exit(0)


if __name__ == "__main__":
    main()
