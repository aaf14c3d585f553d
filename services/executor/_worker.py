"""A single-use worker process: started ahead of time, runs exactly one execution, then exits.

Forked from the zygote (``_zygote``), which hands it its wasmtime engine and the modules it has
preloaded, or started by ``_pool`` as ``python -m services.executor._worker``. Everything that
does not depend on the job (a warm-up run, the store, the linker, the watchdog's thread) is
done before it reports ready. Nothing survives from one execution to the next, and the parent
can always end a run by killing this process.
"""

from __future__ import annotations

import gc
import hashlib
import io
import os
import resource
import sys
import time
from collections.abc import Mapping
from typing import IO, Any

import wasmtime
from wasmtime.component import Component

from services.executor._components import ComponentRun
from services.executor._protocol import (
    READY,
    RESULT,
    STARTED,
    decode_host_answer,
    encode_event,
    encode_host_request,
    encode_job,
    read_job,
)
from services.executor._sandbox import (
    WARM_UP_JOB,
    WARM_UP_WASM,
    GuestRun,
    InvalidModule,
    ModuleCache,
    Watchdog,
    compile_module,
    failed_outcome,
    make_engine,
)


def main(
    status_fd: int,
    engine: wasmtime.Engine | None = None,
    preloaded: Mapping[str, wasmtime.Module] | None = None,
    warm_up_module: wasmtime.Module | None = None,
) -> None:
    """``status_fd``: the pipe that says when the run began (read by the parent only when a
    deadline passes). ``engine``, ``preloaded`` and ``warm_up_module`` come from the zygote: modules
    deserialized by that engine before this process was forked (``preloaded`` by the path of
    their compiled file; ``warm_up_module`` is ``WARM_UP_WASM``, so no compiler starts here)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    # Our messages go to a private copy of stdout; the real fd 1 goes nowhere, so nothing
    # printed by a library can corrupt the protocol.
    channel = os.fdopen(os.dup(1), "wb", buffering=0)
    status = os.fdopen(status_fd, "wb", buffering=0)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)

    if engine is None:
        engine = make_engine()
    watchdog = Watchdog(runs=2)  # one thread for the warm-up's run and the job's
    _warmed = warm_up(engine, warm_up_module, watchdog)  # kept: this process frees nothing
    run = GuestRun(engine, retain=True, watchdog=watchdog)  # freeing it would delay the result
    # What exists now is never garbage: a collection during the run need not walk it (nor
    # copy the pages it shares with the zygote).
    gc.freeze()
    channel.write(encode_event(READY))
    try:
        job, wasm, cache_dir, host = read_job(sys.stdin.buffer)
    except (EOFError, ValueError):
        return  # the pool closed us before giving us work
    if host:
        run.abi.bridge = PipeBridge(channel, sys.stdin.buffer)
    try:
        loaded = ModuleCache(cache_dir).load(engine, wasm, preloaded)
    except InvalidModule as exc:
        channel.write(encode_event(RESULT, failed_outcome(exc.error_type, str(exc))))
        os._exit(0)
    status.write(encode_event(STARTED, at=time.monotonic()))
    if isinstance(loaded.module, Component):  # WASI preview 2: its own linker (``_components``)
        outcome = ComponentRun(engine, watchdog=watchdog, host=run.abi.bridge).run_component(
            loaded.module, job
        )
    else:
        outcome = run.run(loaded.module, job)
    channel.write(encode_event(RESULT, outcome, path="" if loaded.preloaded else loaded.path))
    channel.flush()
    # Leave at once: a single-use process has nothing to tear down, and skipping interpreter
    # shutdown avoids wasmtime's runtime threads racing it.
    os._exit(0)


def warm_up(
    engine: wasmtime.Engine,
    module: wasmtime.Module | None = None,
    watchdog: Watchdog | None = None,
) -> GuestRun:
    """Takes a job of our own down the path a real one takes (read, find its module, run,
    encode the result), so that a fresh process pays its first-time costs before it reports
    ready: wasmtime's first store and host calls, and the copying of the pages this process
    shares with the zygote as it first writes to them."""
    if module is None:
        module = compile_module(engine, WARM_UP_WASM)
    cache = ModuleCache(os.devnull)  # found among the preloaded: nothing is read or written
    preloaded = {cache.path_for(hashlib.sha256(WARM_UP_WASM).hexdigest()): module}
    job, wasm, _, _ = read_job(io.BytesIO(encode_job(WARM_UP_JOB, WARM_UP_WASM, os.devnull)))
    loaded = cache.load(engine, wasm, preloaded)
    encode_event(STARTED, at=time.monotonic())
    # Its store is kept, not freed: a single-use process leaves without freeing anything.
    run = GuestRun(engine, retain=True, watchdog=watchdog)
    encode_event(RESULT, run.run(loaded.module, job), path=loaded.path)
    return run


class PipeBridge:
    """Host calls answered by the executor: a request on our channel, its answer on stdin.
    The guest's thread is the only caller, one call at a time."""

    def __init__(self, channel: IO[bytes], answers: IO[bytes]) -> None:
        self._channel = channel
        self._answers = answers

    def call(self, request: dict[str, Any]) -> dict[str, Any]:
        self._channel.write(encode_host_request(request))
        line = self._answers.readline()
        if not line:
            raise EOFError("the executor closed the host channel")
        return decode_host_answer(line)


if __name__ == "__main__":
    main(int(sys.argv[1]))
