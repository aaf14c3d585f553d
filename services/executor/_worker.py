"""A single-use worker process: started ahead of time, runs exactly one execution, then exits.

Forked from the zygote (``_zygote``), which hands it its wasmtime engine and the modules it has
preloaded, or started by ``_pool`` as ``python -m services.executor._worker``. Everything that
does not depend on the job (a warm-up run, the store, the linker, the watchdog's thread) is
done before it reports ready. Nothing survives from one execution to the next, and the parent
can always end a run by killing this process.
"""

from __future__ import annotations

import gc
import os
import resource
import sys
from collections.abc import Mapping
from pathlib import Path

import wasmtime

from services.executor._protocol import (
    LOADED,
    READY,
    RESULT,
    STARTED,
    encode_event,
    read_job,
)
from services.executor._sandbox import (
    GuestRun,
    InvalidModule,
    ModuleCache,
    failed_outcome,
    make_engine,
    warm_up,
)


def main(
    engine: wasmtime.Engine | None = None,
    preloaded: Mapping[str, wasmtime.Module] | None = None,
) -> None:
    """``engine`` and ``preloaded`` come from the zygote: modules deserialized by that engine
    before this process was forked, by the path of their compiled file."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Our messages go to a private copy of stdout; the real fd 1 goes nowhere, so nothing
    # printed by a library can corrupt the protocol.
    channel = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)

    if engine is None:
        engine = make_engine()
    encode_event(RESULT, warm_up(engine))  # the result's encoding is warmed up too
    run = GuestRun(engine)
    # What exists now is never garbage: a collection during the run need not walk it (nor
    # copy the pages it shares with the zygote).
    gc.freeze()
    channel.write(encode_event(READY))
    try:
        job, wasm, cache_dir = read_job(sys.stdin.buffer)
    except (EOFError, ValueError):
        return  # the pool closed us before giving us work
    try:
        loaded = ModuleCache(Path(cache_dir)).load(engine, wasm, preloaded)
    except InvalidModule as exc:
        channel.write(encode_event(RESULT, failed_outcome(exc.error_type, str(exc))))
        os._exit(0)
    started = encode_event(STARTED)
    if not loaded.preloaded:
        started = encode_event(LOADED, path=str(loaded.path)) + started
    channel.write(started)
    channel.write(encode_event(RESULT, run.run(loaded.module, job)))
    channel.flush()
    # Leave at once: a single-use process has nothing to tear down, and skipping interpreter
    # shutdown avoids wasmtime's runtime threads racing it.
    os._exit(0)


if __name__ == "__main__":
    main()
