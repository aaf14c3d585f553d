"""What a guest's host call costs (issue #15): storage, randomness, in an isolated worker (what
services use: a request on the worker's pipe, answered by the executor) and in process.

Each guest makes N calls in a loop; the cost of one call is the run's extra time over the same
guest making none, divided by N, with the local services ``outlayer run`` uses (a SQLite store,
a development VRF key), so the figures are the host-call path's own, not a network's. Prints
medians per mode and the ratio of isolated to in-process.
"""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path

import wasmtime

from bench._common import bench_settings, timed
from services.executor import ExecutionJob, Executor
from services.executor.capabilities.local import local_services

CALLS = 100
REPEAT = 15
_GUEST = """
(module
  (import "outlayer" "storage_get" (func $get (param i32 i32 i32) (result i64)))
  (import "outlayer" "storage_set" (func $set (param i32 i32 i32 i32 i32) (result i64)))
  (import "outlayer" "random" (func $random (param i32 i32) (result i64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "key")
  (data (i32.const 16) "a value of 32 bytes, more or less")
  (func (export "_start") (local $n i32)
    (drop (call $set (i32.const 0) (i32.const 3) (i32.const 16) (i32.const 32) (i32.const 0)))
    (block $done (loop $again
      (br_if $done (i32.ge_u (local.get $n) (i32.const {calls})))
      {body}
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $again)))))
"""
BODIES = {
    "none": "(nop)",
    "storage_get": "(drop (call $get (i32.const 0) (i32.const 3) (i32.const 0)))",
    "storage_set": "(drop (call $set (i32.const 0) (i32.const 3) (i32.const 16) (i32.const 32)"
    " (i32.const 0)))",
    "random": "(drop (call $random (i32.const 16) (i32.const 8)))",
}


def _wasm(body: str, calls: int) -> bytes:
    return bytes(wasmtime.wat2wasm(_GUEST.replace("{calls}", str(calls)).replace("{body}", body)))


def _median_ms(executor: Executor, wasm: bytes, data_dir: Path) -> float:
    settings = executor.settings

    def run() -> None:
        services = local_services(settings, wasm, data_dir=data_dir, store="module:bench",
                                  caller="", origin_key="local:bench")  # fmt: skip
        result = executor.execute(ExecutionJob(wasm, services=services))
        assert result.ok, result.to_json()

    run()  # compiled and cached, the store made
    return statistics.median(timed(run, REPEAT)) * 1000


def main() -> None:
    settings = bench_settings()
    data_dir = Path(tempfile.mkdtemp(prefix="outlayer-bench-host-"))
    print(f"host calls: {CALLS} calls per run, median of {REPEAT} runs, per call = "
          "(run - run with none) / calls")  # fmt: skip
    per_call: dict[str, dict[str, float]] = {}
    for mode, isolated in (("in-process", False), ("isolated", True)):
        with Executor(settings, isolated=isolated) as executor:
            base = _median_ms(executor, _wasm(BODIES["none"], CALLS), data_dir)
            per_call[mode] = {}
            for name, body in BODIES.items():
                if name == "none":
                    continue
                total = _median_ms(executor, _wasm(body, CALLS), data_dir)
                per_call[mode][name] = (total - base) / CALLS
            print(f"  {mode:10}  run with no calls {base:6.2f} ms   " + "   ".join(
                f"{name} {ms * 1000:6.0f} us" for name, ms in per_call[mode].items()))  # fmt: skip
    for name in per_call["isolated"]:
        ratio = per_call["isolated"][name] / max(per_call["in-process"][name], 1e-9)
        print(f"  {name}: isolated / in-process {ratio:4.1f}x")


if __name__ == "__main__":
    main()
