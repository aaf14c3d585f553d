"""A single-use worker process: started ahead of time, runs exactly one execution, then exits.

Started by ``_pool`` as ``python -m services.executor._worker``. Nothing survives from one
execution to the next, and the parent can always end a run by killing this process.
"""

from __future__ import annotations

import os
import resource
import sys
from pathlib import Path

from services.executor._protocol import READY, RESULT, STARTED, encode_event, read_job
from services.executor._sandbox import (
    InvalidModule,
    ModuleCache,
    failed_outcome,
    make_engine,
    run_job,
    warm_up,
)


def main() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Our messages go to a private copy of stdout; the real fd 1 goes nowhere, so nothing
    # printed by a library can corrupt the protocol.
    channel = os.fdopen(os.dup(1), "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)

    engine = make_engine()
    warm_up(engine)
    channel.write(encode_event(READY))
    try:
        job, wasm, cache_dir = read_job(sys.stdin.buffer)
    except (EOFError, ValueError):
        return  # the pool closed us before giving us work
    try:
        module = ModuleCache(Path(cache_dir)).load(engine, wasm)
    except InvalidModule as exc:
        channel.write(encode_event(RESULT, failed_outcome(exc.error_type, str(exc))))
        os._exit(0)
    channel.write(encode_event(STARTED))
    channel.write(encode_event(RESULT, run_job(engine, module, job)))
    channel.flush()
    # Leave at once: a single-use process has nothing to tear down, and skipping interpreter
    # shutdown avoids wasmtime's runtime threads racing it.
    os._exit(0)


if __name__ == "__main__":
    main()
