"""A pool of pre-started, single-use worker processes.

Starting a Python process with wasmtime loaded costs far more than running a small guest, so
the pool keeps ``size`` workers started ahead of time and hands each one exactly one execution;
the workers are forked from a zygote that has imported everything once (``_zygote``), so a new
one costs a fork instead of an interpreter start, and the zygote preloads the compiled modules
jobs used, so a later worker finds its job's module in memory. A worker that overruns its
deadline is killed: a guest blocked anywhere, even inside a host call, cannot outlive its
wall-clock limit. Nothing but the job's own work happens on the critical path: the used worker
is reaped, and its replacement forked, by the pool's own threads after the result is in hand.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from outlayer.errors import ErrorCode, ExecutionErrorType, OutlayerError
from services.executor._protocol import (
    HOST,
    READY,
    RESULT,
    STARTED,
    decode_event,
    encode_host_answer,
)
from services.executor._sandbox import RawOutcome, failed_outcome

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_READY_TIMEOUT_S = 60.0
_START_ATTEMPTS = 3
_KILL_WAIT_S = 5.0


@dataclass(frozen=True)
class Deadlines:
    compile_seconds: float
    run_seconds: float
    kill_grace_seconds: float


class HostAnswers(Protocol):
    """What answers a run's host calls (``services.executor.capabilities.HostCalls``)."""

    def answer(self, request: dict[str, Any], timeout: float) -> dict[str, Any]: ...


class Zygote:
    """The process workers are forked from (see ``_zygote``); one per pool."""

    def __init__(self) -> None:
        # Sequenced packets: each message (and its file descriptors) arrives whole and alone.
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._process = subprocess.Popen(
            [sys.executable, "-m", "services.executor._zygote"],
            stdin=theirs.fileno(),
            start_new_session=True,
            close_fds=True,
            env=_worker_environment(),
        )
        theirs.close()
        self._socket = ours
        self._spawn_lock = threading.Lock()
        self._changed = threading.Condition()
        self._spawned: list[int] = []
        self._exits: dict[int, int] = {}
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="zygote-reader", daemon=True)
        self._reader.start()

    def alive(self) -> bool:
        return not self._closed and self._process.poll() is None

    def spawn(self) -> tuple[int, int, int, int]:
        """A new worker: (pid, its stdin's write end, its stdout's read end, its status
        pipe's read end)."""
        job_r, job_w = os.pipe()
        out_r, out_w = os.pipe()
        status_r, status_w = os.pipe()
        try:
            with self._spawn_lock:
                socket.send_fds(self._socket, [b"S"], [job_r, out_w, status_w])
                with self._changed:
                    got = self._changed.wait_for(
                        lambda: self._spawned or not self.alive(), _READY_TIMEOUT_S
                    )
                    if not got or not self._spawned:
                        raise OSError("the zygote did not fork a worker")
                    pid = self._spawned.pop(0)
        except OSError:
            for fd in (job_w, out_r, status_r):
                os.close(fd)
            raise
        finally:
            for fd in (job_r, out_w, status_w):
                os.close(fd)
        return pid, job_w, out_r, status_r

    def preload(self, path: str) -> None:
        """Asks the zygote to keep the compiled module at ``path`` in memory for the workers it
        forks from now on (best effort: a worker without it reads the file itself)."""
        with contextlib.suppress(OSError):
            self._socket.send(b"L" + path.encode())

    def exit_code(self, pid: int, timeout: float) -> int | None:
        """A worker's exit code (negative: the signal that ended it), once the zygote saw it."""
        with self._changed:
            self._changed.wait_for(lambda: pid in self._exits or not self.alive(), timeout)
            return self._exits.pop(pid, None)

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._socket.shutdown(socket.SHUT_RDWR)
        self._socket.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                chunk = self._socket.recv(4096)
            except OSError:
                chunk = b""
            if not chunk:
                with self._changed:
                    self._closed = True
                    self._changed.notify_all()
                return
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            with self._changed:
                for line in lines:
                    kind, *fields = line.decode().split()
                    if kind == "P":
                        self._spawned.append(int(fields[0]))
                    elif kind == "X":
                        self._exits[int(fields[0])] = int(fields[1])
                        if len(self._exits) > 10_000:  # never asked for: forget the oldest
                            self._exits.pop(next(iter(self._exits)))
                self._changed.notify_all()


class NotDelivered(Exception):
    """The worker was dead before it took the job: the job never started, so another worker
    may run it."""


class WorkerProcess:
    """One single-use worker: forked by a zygote, or (without one) started as a process."""

    def __init__(self, zygote: Zygote | None = None) -> None:
        self._zygote = zygote
        self._popen: subprocess.Popen[bytes] | None = None
        self._returncode: int | None = None
        self._pidfd: int | None = None
        if zygote is None:
            status_r, status_w = os.pipe()
            try:
                self._popen = subprocess.Popen(
                    [sys.executable, "-m", "services.executor._worker", str(status_w)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    start_new_session=True,  # its own process group, so a kill takes everything
                    close_fds=True,
                    pass_fds=(status_w,),
                    env=_worker_environment(),
                )
            except OSError:
                os.close(status_r)
                raise
            finally:
                os.close(status_w)
            assert self._popen.stdout is not None and self._popen.stdin is not None
            self._pid = self._popen.pid
            self._stdin = self._popen.stdin
            self._stdout = self._popen.stdout
        else:
            self._pid, job_w, out_r, status_r = zygote.spawn()
            # Signals go through a pidfd: the zygote reaps its children, so a bare pid could
            # be reused by the time we kill.
            with contextlib.suppress(OSError):
                self._pidfd = os.pidfd_open(self._pid)
            self._stdin = os.fdopen(job_w, "wb")
            self._stdout = os.fdopen(out_r, "rb", buffering=0)
        self._out_fd = self._stdout.fileno()
        # Where the worker says when its run began. Read only once a deadline passes: a run
        # that ends in time never wakes this process twice.
        os.set_blocking(status_r, False)
        self._status_fd: int | None = status_r
        self._buffer = b""
        self._ready = False
        self._killed = False
        # The compiled module's file, when the worker had to read or build it (not preloaded).
        self.loaded_path = ""

    @property
    def pid(self) -> int:
        return self._pid

    def alive(self) -> bool:
        """False once the process has exited (a spare can die while it waits: OOM killer,
        an operator's kill)."""
        if self._killed:
            return False
        if self._popen is not None:
            return self._popen.poll() is None
        if self._pidfd is not None:
            readable, _, _ = select.select([self._pidfd], [], [], 0)
            return not readable  # a pidfd polls readable once its process has exited
        return True

    def wait_ready(self, timeout: float = _READY_TIMEOUT_S) -> bool:
        if self._ready:
            return True
        try:
            line = self._read_line(time.monotonic() + timeout)
        except EOFError:
            return False
        self._ready = line is not None and decode_event(line).kind == READY
        return self._ready

    def run(
        self, payload: bytes, deadlines: Deadlines, host: HostAnswers | None = None
    ) -> RawOutcome:
        """Sends one job and waits for its result, killing the worker at the hard deadline:
        ``compile_seconds`` after the job was sent if the run has not begun by then, else
        ``run_seconds + kill_grace_seconds`` after it began. ``host`` answers the guest's host
        calls meanwhile (the job's header must say so: ``encode_job(host=True)``)."""
        begun = time.monotonic()
        try:
            self._stdin.write(payload)
            if host is None:
                self._stdin.close()
            else:
                self._stdin.flush()
        except (OSError, ValueError):  # broken pipe, or already used and closed
            raise NotDelivered from None
        compile_deadline = begun + deadlines.compile_seconds
        run_budget = deadlines.run_seconds + deadlines.kill_grace_seconds
        started_at: float | None = None
        # A run that began at once must end within its budget: look again then at the latest.
        deadline = min(compile_deadline, begun + run_budget)
        while True:
            try:
                line = self._read_line(deadline)
            except EOFError:
                return self._died("before it returned a result")
            if line is not None:
                event = decode_event(line)
                if event.kind == RESULT and event.outcome is not None:
                    self.loaded_path = event.path
                    return event.outcome
                if event.kind == HOST and event.request is not None and host is not None:
                    # A host call means the run began; it may take what is left of its time.
                    started_at = started_at or self._started_at() or time.monotonic()
                    self._answer(host, event.request, started_at + deadlines.run_seconds)
                    deadline = started_at + run_budget
                continue
            if started_at is None:
                started_at = self._started_at()
            now = time.monotonic()
            if started_at is not None:
                deadline = started_at + run_budget
                if now >= deadline:
                    self.kill()
                    return RawOutcome(
                        time_ms=round((now - started_at) * 1000),
                        error_type=ExecutionErrorType.TIMEOUT,
                        error_message=(
                            f"wall-clock limit of {deadlines.run_seconds:g} s reached; the "
                            "guest did not stop, so its process was killed (no usage could be "
                            "collected)"
                        ),
                    )
            elif now >= compile_deadline:
                self.kill()
                return failed_outcome(
                    ExecutionErrorType.WORKER_FAILURE,
                    f"compiling the module took longer than {deadlines.compile_seconds:g} s; "
                    "make the module smaller",
                )
            else:  # not begun yet: if it begins now, it must end within its budget from now
                deadline = min(compile_deadline, now + run_budget)

    def _answer(self, host: HostAnswers, request: dict[str, Any], run_ends: float) -> None:
        answer = host.answer(request, timeout=max(run_ends - time.monotonic(), 0.0))
        try:
            self._stdin.write(encode_host_answer(answer))
            self._stdin.flush()
        except (OSError, ValueError):
            pass  # the worker is gone: its result (or its death) comes next

    def _started_at(self) -> float | None:
        """When the worker's run began (its monotonic clock is ours), if it has."""
        if self._status_fd is None:
            return None
        try:
            data = os.read(self._status_fd, 4096)
        except BlockingIOError:
            return None
        except OSError:
            return None
        for line in data.splitlines():
            event = decode_event(line)
            if event.kind == STARTED:
                return event.at
        return None

    def kill(self) -> None:
        if self._killed:
            return
        self._killed = True
        if self._popen is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                self._popen.kill()
            self._returncode = self._popen.wait()
        elif self._pidfd is not None:
            with contextlib.suppress(ProcessLookupError, OSError):
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
            # As with a direct worker, it is dead when kill returns: a pidfd polls readable
            # once its process has exited.
            select.select([self._pidfd], [], [], _KILL_WAIT_S)
            os.close(self._pidfd)
            self._pidfd = None
        for stream in (self._stdin, self._stdout):
            with contextlib.suppress(OSError):
                stream.close()
        if self._status_fd is not None:
            os.close(self._status_fd)
            self._status_fd = None

    def _exit_code(self) -> int | None:
        if self._popen is not None or self._zygote is None:
            return self._returncode
        return self._zygote.exit_code(self._pid, timeout=2.0)

    def _died(self, when: str) -> RawOutcome:
        self.kill()
        code = self._exit_code()
        how = f"killed by signal {-code}" if code and code < 0 else f"exit code {code}"
        return failed_outcome(
            ExecutionErrorType.WORKER_FAILURE,
            f"the worker process ended {when} ({how}); the execution can be retried",
        )

    def _read_line(self, deadline: float) -> bytes | None:
        """One line from the worker; None when the deadline passes; EOFError when it exits."""
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            readable, _, _ = select.select([self._out_fd], [], [], remaining)
            if not readable:
                return None
            chunk = os.read(self._out_fd, 1 << 16)
            if not chunk:
                raise EOFError
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line


class WorkerPool:
    """Keeps ``size`` workers started; each :meth:`run` uses one and throws it away."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._zygote: Zygote | None = None
        self._zygote_lock = threading.Lock()
        self._idle: queue.Queue[WorkerProcess] = queue.Queue()
        self._used: queue.Queue[WorkerProcess | None] = queue.Queue()
        self._wanted = threading.Event()
        self._filled = threading.Condition()
        self._closed = False
        self._wanted.set()
        self._filler = threading.Thread(target=self._fill, name="worker-pool-filler", daemon=True)
        self._filler.start()
        self._reaper = threading.Thread(target=self._reap, name="worker-reaper", daemon=True)
        self._reaper.start()

    def run(
        self, payload: bytes, deadlines: Deadlines, host: HostAnswers | None = None
    ) -> RawOutcome:
        for attempt in range(_START_ATTEMPTS):
            worker = self._take()
            try:
                return worker.run(payload, deadlines, host)
            except NotDelivered:
                if attempt + 1 == _START_ATTEMPTS:
                    return failed_outcome(
                        ExecutionErrorType.WORKER_FAILURE,
                        f"{_START_ATTEMPTS} worker processes in a row died before they took "
                        "the job; the execution can be retried",
                    )
            finally:
                # Reaping the used worker and starting its replacement happen after the result
                # is in hand, on the pool's threads: a process start (fork) during the run would
                # slow the run down, and a thread start here would delay the caller.
                self._used.put(worker)
        raise AssertionError("unreachable")

    def wait_full(self, timeout: float) -> bool:
        """Waits until ``size`` started workers are idle (a warm pool); False on timeout."""
        deadline = time.monotonic() + timeout
        while self._idle.qsize() < self._size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._closed:
                return False
            with self._filled:
                self._filled.wait(min(remaining, 0.1))
        return True

    def close(self) -> None:
        self._closed = True
        self._wanted.set()
        self._used.put(None)
        self._filler.join(timeout=_READY_TIMEOUT_S)
        self._reaper.join(timeout=_READY_TIMEOUT_S)
        while True:
            try:
                self._idle.get_nowait().kill()
            except queue.Empty:
                break
        with self._zygote_lock:
            if self._zygote is not None:
                self._zygote.close()

    def _reap(self) -> None:
        while (worker := self._used.get()) is not None:
            if worker.loaded_path:
                # Before the replacement is forked, so that it has the module already.
                with self._zygote_lock:
                    zygote = self._zygote
                if zygote is not None and zygote.alive():
                    zygote.preload(worker.loaded_path)
            self._wanted.set()
            worker.kill()

    def _start_worker(self) -> WorkerProcess:
        """A worker forked from the zygote (started, or restarted if it died)."""
        with self._zygote_lock:
            if self._zygote is None or not self._zygote.alive():
                if self._zygote is not None:
                    self._zygote.close()
                self._zygote = Zygote()
            zygote = self._zygote
        try:
            return WorkerProcess(zygote)
        except OSError:
            return WorkerProcess()  # the zygote failed: a directly started worker still works

    def _take(self) -> WorkerProcess:
        for _ in range(_START_ATTEMPTS):
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                worker = self._start_worker()  # all busy: start one on the critical path
            if worker.wait_ready() and worker.alive():
                return worker
            worker.kill()  # died while idle, or cannot start; try another
            self._wanted.set()
        raise OutlayerError(
            ErrorCode.UNAVAILABLE,
            f"{_START_ATTEMPTS} worker processes in a row failed to start; the executor's "
            "stderr says why (often a broken install: run scripts/setup.sh)",
        )

    def _fill(self) -> None:
        backoff = 0.0
        while not self._closed:
            self._wanted.wait()
            self._wanted.clear()
            while not self._closed and self._idle.qsize() < self._size:
                worker = self._start_worker()
                ready = worker.wait_ready()
                if self._closed or not ready:
                    worker.kill()
                    if not ready:  # workers cannot start: retry, but never spin
                        backoff = min(max(backoff * 2, 0.5), 30.0)
                        time.sleep(backoff)
                    continue
                backoff = 0.0
                self._idle.put(worker)
                with self._filled:
                    self._filled.notify_all()


def _worker_environment() -> dict[str, str]:
    # The worker needs nothing from the host environment; passing none means none can leak.
    return {"PATH": os.defpath, "LANG": "C.UTF-8", "PYTHONPATH": _PACKAGE_ROOT}
