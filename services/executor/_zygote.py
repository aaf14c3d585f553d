"""Forks single-use workers from a process that has already imported them.

Importing Python and wasmtime costs a worker ~200 ms of CPU; a fork of this process costs a few.
The zygote imports the worker's code once and never runs a guest itself: on each request from
the pool it forks a child that becomes one worker (its own session, the pool's pipes as stdin
and stdout) and reports the child's pid, then each child's exit status when it ends.

Started by ``_pool`` as ``python -m services.executor._zygote`` with a Unix socket as stdin.
It must stay single-threaded (a fork copies only the calling thread), so nothing here creates
a wasmtime engine: each worker makes its own after the fork.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket

from services.executor import _worker

SPAWN = b"S"


def main() -> None:
    # When the pool is gone, so is the zygote; workers already started keep their sessions.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        _serve(socket.socket(fileno=0))


def _serve(channel: socket.socket) -> None:
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)  # SIGCHLD wakes the loop below
    signal.signal(signal.SIGCHLD, lambda *_: None)
    while True:
        readable, _, _ = select.select([channel.fileno(), wake_r], [], [])
        if wake_r in readable:
            os.read(wake_r, 4096)
        _report_exits(channel)
        if channel.fileno() not in readable:
            continue
        message, fds, _, _ = socket.recv_fds(channel, 16, 2)
        if not message:
            return  # the pool closed: workers already started keep their own sessions
        if message != SPAWN or len(fds) != 2:
            for fd in fds:
                os.close(fd)
            continue
        pid = os.fork()
        if pid == 0:
            _become_worker(channel, fds, (wake_r, wake_w))
        for fd in fds:
            os.close(fd)
        channel.sendall(f"P {pid}\n".encode())


def _become_worker(channel: socket.socket, fds: list[int], wake: tuple[int, int]) -> None:
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        channel.close()
        for fd in wake:
            os.close(fd)
        os.setsid()  # its own session and process group, as a directly started worker has
        os.dup2(fds[0], 0)
        os.dup2(fds[1], 1)
        for fd in fds:
            os.close(fd)
        _worker.main()
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
