"""Forks single-use workers from a process that has already imported them.

Importing Python and wasmtime costs a worker ~200 ms of CPU; a fork of this process costs a few.
The zygote imports the worker's code once and never runs a guest itself: on each request from
the pool it forks a child that becomes one worker (its own session, the pool's pipes as stdin
and stdout) and reports the child's pid, then each child's exit status when it ends.

It also keeps one wasmtime engine and the compiled modules the pool asked it to preload
(deserialized from the executor's module cache, the most recently used ``MAX_PRELOADED``), so a
worker forked later finds its job's module already in memory instead of reading and
deserializing it on the critical path. A module is compiled code only: instances, memories and
everything else a guest can touch are made by the worker, per execution.

Started by ``_pool`` as ``python -m services.executor._zygote`` with a Unix socket (sequenced
packets: one message each) as stdin. It must stay single-threaded (a fork copies only the
calling thread), so it never compiles (wasmtime compiles on a thread pool): the engine only
deserializes here; each worker compiles, if it must, after the fork.
"""

from __future__ import annotations

import contextlib
import gc
import os
import select
import signal
import socket
from collections import OrderedDict

import wasmtime

from services.executor import _worker
from services.executor._sandbox import (
    REHEARSAL_WASM,
    WARM_UP_WASM,
    compile_module,
    make_engine,
    preload,
    rehearse,
)

SPAWN = b"S"
PRELOAD = b"L"  # followed by the path of a compiled module in the cache
MAX_PRELOADED = 32
_MESSAGE_MAX = 8192


def main() -> None:
    # When the pool is gone, so is the zygote; workers already started keep their sessions.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        _serve(socket.socket(fileno=0))


def _serve(channel: socket.socket) -> None:
    engine = make_engine()
    warm_up_module = _compiled_elsewhere(engine, WARM_UP_WASM)
    rehearsal = _compiled_elsewhere(engine, REHEARSAL_WASM)
    if rehearsal is not None:
        rehearse(engine, rehearsal)  # what every worker would do first, done once here
        del rehearsal
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)  # SIGCHLD wakes the loop below
    signal.signal(signal.SIGCHLD, lambda *_: None)
    preloaded: OrderedDict[str, wasmtime.Module] = OrderedDict()
    while True:
        readable, _, _ = select.select([channel.fileno(), wake_r], [], [])
        if wake_r in readable:
            os.read(wake_r, 4096)
        _report_exits(channel)
        if channel.fileno() not in readable:
            continue
        message, fds, _, _ = socket.recv_fds(channel, _MESSAGE_MAX, 3)
        if not message:
            return  # the pool closed: workers already started keep their own sessions
        if message.startswith(PRELOAD) and not fds:
            _preload(engine, preloaded, message[len(PRELOAD) :].decode())
            continue
        if message != SPAWN or len(fds) != 3:
            for fd in fds:
                os.close(fd)
            continue
        # What the child inherits is never garbage: its collections need not walk it (nor
        # copy the pages it shares with us by writing to them).
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            _become_worker(
                channel,
                fds,
                (wake_r, wake_w),
                engine,
                preloaded=preloaded,
                warm_up_module=warm_up_module,
            )
        for fd in fds:
            os.close(fd)
        channel.sendall(f"P {pid}\n".encode())


def _preload(
    engine: wasmtime.Engine, preloaded: OrderedDict[str, wasmtime.Module], path: str
) -> None:
    if path in preloaded:
        preloaded.move_to_end(path)
        return
    module = preload(engine, path)
    if module is None:
        return  # gone or damaged: a worker reads (or rebuilds) it itself
    preloaded[path] = module
    while len(preloaded) > MAX_PRELOADED:
        preloaded.popitem(last=False)


def _compiled_elsewhere(engine: wasmtime.Engine, wasm: bytes) -> wasmtime.Module | None:
    """``wasm`` compiled by a child process and deserialized here: wasmtime compiles on a
    thread pool, which this process must never start. Workers then warm up without compiling
    (None if the child failed: each worker compiles its own)."""
    out_r, out_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(out_r)
            with os.fdopen(out_w, "wb") as out:
                out.write(compile_module(make_engine(), wasm).serialize())
        finally:
            os._exit(0)
    os.close(out_w)
    with os.fdopen(out_r, "rb") as compiled:
        data = compiled.read()
    os.waitpid(pid, 0)
    try:
        return wasmtime.Module.deserialize(engine, data) if data else None
    except wasmtime.WasmtimeError:
        return None


def _become_worker(
    channel: socket.socket,
    fds: list[int],
    wake: tuple[int, int],
    engine: wasmtime.Engine,
    *,
    preloaded: OrderedDict[str, wasmtime.Module],
    warm_up_module: wasmtime.Module | None,
) -> None:
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        channel.close()
        for fd in wake:
            os.close(fd)
        os.setsid()  # its own session and process group, as a directly started worker has
        os.dup2(fds[0], 0)
        os.dup2(fds[1], 1)
        for fd in fds[:2]:
            os.close(fd)
        _worker.main(fds[2], engine, preloaded, warm_up_module)
    finally:
        os._exit(0)


def _report_exits(channel: socket.socket) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        code = os.waitstatus_to_exitcode(status)
        channel.sendall(f"X {pid} {code}\n".encode())


if __name__ == "__main__":
    main()
