"""What exact memory_limit detection costs: routing memory.grow through a recording function
(services/executor/_memgrow.py). Prints the load-time rewrite per built guest, and the run time
and fuel of a guest that calls memory.grow a million times, with and without the rewrite."""

from __future__ import annotations

import functools
import statistics

import wasmtime

from bench._common import guest_bytes, timed
from services.executor._memgrow import route_memory_grow
from services.executor._sandbox import make_engine

GUESTS = ("echo_json_rust", "echo_json_c", "env_report", "cpu_bound")
CALLS = 1_000_000
GROW_LOOP = f"""
(module
  (memory (export "memory") 1)
  (func (export "run") (local $i i32)
    (loop $again
      (drop (memory.grow (i32.const 0)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $again (i32.lt_u (local.get $i) (i32.const {CALLS}))))))
"""


def _run(engine: wasmtime.Engine, module: wasmtime.Module) -> int:
    store = wasmtime.Store(engine)
    store.set_fuel(10**12)
    store.set_epoch_deadline(1)
    run = wasmtime.Instance(store, module, []).exports(store)["run"]
    assert isinstance(run, wasmtime.Func)
    run(store)
    return 10**12 - store.get_fuel()


def main() -> None:
    print("memory.grow routing: load-time rewrite of the built guests (median of 20)")
    for name in GUESTS:
        wasm = guest_bytes(name)
        samples = timed(functools.partial(route_memory_grow, wasm), 20)
        grown = len(route_memory_grow(wasm)) - len(wasm)
        print(f"  {name:16s} {len(wasm):>8d} bytes  +{grown:>3d} bytes  "
              f"{statistics.median(samples) * 1000:7.2f} ms")  # fmt: skip
    engine = make_engine()
    wasm = bytes(wasmtime.wat2wasm(GROW_LOOP))
    print(f"a guest calling memory.grow {CALLS} times (median of 5 runs)")
    for label, module_bytes in (("as written", wasm), ("routed", route_memory_grow(wasm))):
        module = wasmtime.Module(engine, module_bytes)
        fuel = _run(engine, module)
        seconds = statistics.median(timed(functools.partial(_run, engine, module), 5))
        print(f"  {label:10s} {seconds * 1000:8.1f} ms  {fuel / CALLS:5.1f} instructions a call")


if __name__ == "__main__":
    main()
