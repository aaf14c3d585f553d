"""Per-execution overhead on the critical path: a hello guest, with and without process isolation.

Prints the median latency of each mode and their ratio. The isolated mode is what services use
(a pre-started single-use process per execution); the in-process mode exists only to measure
what that isolation costs. Paced calls (a pause, then the pool is waited for until it is full
again) are a service that is not saturated; both modes are measured paced alike, since a call
after a pause runs on cold CPU caches. Back-to-back calls exhaust the pool.
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


def _paced(executor: Executor, job: ExecutionJob) -> list[float]:
    samples: list[float] = []
    for _ in range(REPEAT):
        time.sleep(PAUSE_S)
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
        direct_paced = _paced(in_process, job)
    with Executor(settings, isolated=True) as isolated:
        isolated.execute(job)  # the pool's zygote now preloads the module
        paced = _paced(isolated, job)
        back_to_back = timed(lambda: isolated.execute(job), REPEAT // 3)

    print(f"  in-process, back to back         {summary(direct)}")
    print(f"  in-process, paced                {summary(direct_paced)}")
    print(f"  isolated, pool warm (paced)      {summary(paced)}")
    print(f"  isolated, back to back (cold)    {summary(back_to_back)}")
    ratio = statistics.median(paced) / statistics.median(direct_paced)
    cold_ratio = statistics.median(back_to_back) / statistics.median(direct)
    print(f"  isolation cost, warm pool: {ratio:.1f}x the in-process latency (both paced)")
    print(f"  isolation cost, pool exhausted: {cold_ratio:.1f}x the in-process latency")
    sys.stdout.flush()
    # The in-process executor ran WASI in this process: wasmtime's runtime threads (tokio) hold
    # Python thread states, and interpreter shutdown can abort on them. Nothing is left to do.
    os._exit(0)


if __name__ == "__main__":
    main()
