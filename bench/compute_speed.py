"""Metered compute speed: a CPU-bound guest under the executor vs the same C compiled natively.

The same source (bench/guests/cpu_bound.c) is built for wasm32-wasi and with the host's cc -O2.
Prints both times, the slowdown ratio, and the metered instruction rate.
"""

from __future__ import annotations

import json
import statistics
import subprocess

from bench._common import bench_settings, guest_bytes, timed
from devtools import guestbuild
from outlayer.limits import RequestedLimits
from outlayer.result import ResponseFormat
from services.executor import ExecutionJob, Executor

LIMIT = "600000"
REPEAT = 5


def main() -> None:
    wasm = guest_bytes("cpu_bound")
    native = guestbuild.OUT_DIR / "cpu_bound_native"
    guest_bytes("cpu_bound_native")
    settings = bench_settings()
    job = ExecutionJob(
        wasm,
        input=LIMIT.encode(),
        limits=RequestedLimits(max_instructions=100_000_000_000),
        response_format=ResponseFormat.JSON,
    )
    print(f"compute speed: primes below {LIMIT} (bench/guests/cpu_bound.c), {REPEAT} runs each")

    def run_native() -> None:
        subprocess.run([str(native), LIMIT], check=True, capture_output=True)

    native_times = timed(run_native, REPEAT)
    expected = json.loads(
        subprocess.run([str(native), LIMIT], check=True, capture_output=True).stdout
    )

    with Executor(settings) as executor:
        first = executor.execute(job)
        assert first.ok and first.output == expected, first
        results = []
        guest_ms = []
        for _ in range(REPEAT):
            result = executor.execute(job)
            results.append(result)
            guest_ms.append(result.resources_used.time_ms / 1000)

    native_s = statistics.median(native_times)
    guest_s = statistics.median(guest_ms)
    instructions = results[0].resources_used.instructions
    print(f"  native (cc -O2, incl. process start)   {native_s * 1000:8.1f} ms")
    print(f"  wasm under the executor (metered)      {guest_s * 1000:8.1f} ms")
    print(f"  slowdown: {guest_s / native_s:.2f}x native")
    print(f"  metered instructions: {instructions:,} ({instructions / guest_s / 1e6:,.0f} M/s)")


if __name__ == "__main__":
    main()
