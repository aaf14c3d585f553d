"""A pool of pre-started, single-use worker processes.

Starting a Python process with wasmtime loaded costs far more than running a small guest, so
the pool keeps ``size`` workers started ahead of time and hands each one exactly one execution.
A worker that overruns its deadline is killed with its whole process group: a guest blocked
anywhere, even inside a host call, cannot outlive its wall-clock limit.
"""

from __future__ import annotations

import contextlib
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from outlayer.errors import ErrorCode, ExecutionErrorType, OutlayerError
from services.executor._protocol import READY, RESULT, STARTED, decode_event
from services.executor._sandbox import RawOutcome, failed_outcome

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
_READY_TIMEOUT_S = 60.0
_START_ATTEMPTS = 3


@dataclass(frozen=True)
class Deadlines:
    compile_seconds: float
    run_seconds: float
    kill_grace_seconds: float


class WorkerProcess:
    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "services.executor._worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # its own process group, so a kill takes everything
            close_fds=True,
            env=_worker_environment(),
        )
        assert self._process.stdout is not None and self._process.stdin is not None
        self._out_fd = self._process.stdout.fileno()
        self._buffer = b""
        self._ready = False

    @property
    def pid(self) -> int:
        return self._process.pid

    def wait_ready(self, timeout: float = _READY_TIMEOUT_S) -> bool:
        if self._ready:
            return True
        try:
            line = self._read_line(time.monotonic() + timeout)
        except EOFError:
            return False
        self._ready = line is not None and decode_event(line)[0] == READY
        return self._ready

    def run(self, payload: bytes, deadlines: Deadlines) -> RawOutcome:
        """Sends one job and waits for its result, killing the worker at the hard deadline."""
        begun = time.monotonic()
        try:
            assert self._process.stdin is not None
            self._process.stdin.write(payload)
            self._process.stdin.close()
        except (OSError, ValueError):  # broken pipe, or already used and closed
            return self._died("before it received the job")
        deadline = begun + deadlines.compile_seconds
        started_at: float | None = None
        while True:
            try:
                line = self._read_line(deadline)
            except EOFError:
                return self._died("before it returned a result")
            if line is None:
                self.kill()
                if started_at is None:
                    return failed_outcome(
                        ExecutionErrorType.WORKER_FAILURE,
                        f"compiling the module took longer than {deadlines.compile_seconds:g} s; "
                        "make the module smaller",
                    )
                return RawOutcome(
                    time_ms=round((time.monotonic() - started_at) * 1000),
                    error_type=ExecutionErrorType.TIMEOUT,
                    error_message=(
                        f"wall-clock limit of {deadlines.run_seconds:g} s reached; the guest "
                        "did not stop, so its process was killed (no usage could be collected)"
                    ),
                )
            event, outcome = decode_event(line)
            if event == STARTED:
                started_at = time.monotonic()
                deadline = started_at + deadlines.run_seconds + deadlines.kill_grace_seconds
            elif event == RESULT and outcome is not None:
                return outcome

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self._process.kill()
        self._process.wait()
        for stream in (self._process.stdin, self._process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def _died(self, when: str) -> RawOutcome:
        self.kill()
        code = self._process.returncode
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
        self._idle: queue.Queue[WorkerProcess] = queue.Queue()
        self._wanted = threading.Event()
        self._closed = False
        self._wanted.set()
        self._filler = threading.Thread(target=self._fill, name="worker-pool-filler", daemon=True)
        self._filler.start()

    def run(self, payload: bytes, deadlines: Deadlines) -> RawOutcome:
        worker = self._take()
        try:
            return worker.run(payload, deadlines)
        finally:
            # Reaping the used worker and starting its replacement happen after the result is
            # in hand: a process start (fork) during the run would slow the run down.
            threading.Thread(target=worker.kill, name="worker-reaper", daemon=True).start()
            self._wanted.set()

    def close(self) -> None:
        self._closed = True
        self._wanted.set()
        self._filler.join(timeout=_READY_TIMEOUT_S)
        while True:
            try:
                self._idle.get_nowait().kill()
            except queue.Empty:
                break

    def _take(self) -> WorkerProcess:
        for _ in range(_START_ATTEMPTS):
            try:
                worker = self._idle.get_nowait()
            except queue.Empty:
                worker = WorkerProcess()  # all busy: start one on the critical path
            if worker.wait_ready():
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
                worker = WorkerProcess()
                ready = worker.wait_ready()
                if self._closed or not ready:
                    worker.kill()
                    if not ready:  # workers cannot start: retry, but never spin
                        backoff = min(max(backoff * 2, 0.5), 30.0)
                        time.sleep(backoff)
                    continue
                backoff = 0.0
                self._idle.put(worker)


def _worker_environment() -> dict[str, str]:
    # The worker needs nothing from the host environment; passing none means none can leak.
    return {"PATH": os.defpath, "LANG": "C.UTF-8", "PYTHONPATH": _PACKAGE_ROOT}
