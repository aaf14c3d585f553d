"""Per-execution overhead on the critical path: a hello guest, with and without process isolation.

Prints the median latency of each mode and their ratio. The isolated mode is what services use
(a pre-started single-use process per execution); the in-process mode exists only to measure
what that isolation costs.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import wasmtime

from bench._common import bench_settings, summary, timed
from services.executor import ExecutionJob, Executor

REPEAT = 60
HELLO = Path(__file__).resolve().parent.parent / "tests" / "guests" / "hello.wat"


def main() -> None:
    wasm = bytes(wasmtime.wat2wasm(HELLO.read_text()))
    job = ExecutionJob(wasm)
    settings = bench_settings()
    print(f"executor overhead: hello guest ({len(wasm)} bytes), {REPEAT} runs each")

    with Executor(settings, isolated=False) as in_process:
        in_process.execute(job)  # compile once into the module cache
        direct = timed(lambda: in_process.execute(job), REPEAT)
    with Executor(settings, isolated=True) as isolated:
        isolated.execute(job)
        # Pace the calls so the pool can restart workers between them: the steady state of a
        # service that is not saturated. The saturated figure follows.
        paced = []
        for _ in range(REPEAT):
            time.sleep(0.25)
            paced += timed(lambda: isolated.execute(job), 1)
        back_to_back = timed(lambda: isolated.execute(job), REPEAT // 3)

    print(f"  in-process (no isolation)        {summary(direct)}")
    print(f"  isolated, pool warm              {summary(paced)}")
    print(f"  isolated, back to back (cold)    {summary(back_to_back)}")
    ratio = statistics.median(paced) / statistics.median(direct)
    cold_ratio = statistics.median(back_to_back) / statistics.median(direct)
    print(f"  isolation cost, warm pool: {ratio:.1f}x the in-process latency")
    print(f"  isolation cost, pool exhausted: {cold_ratio:.1f}x the in-process latency")


if __name__ == "__main__":
    main()
