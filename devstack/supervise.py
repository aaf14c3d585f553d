"""The dev stack's guard rails: one stack per folder (a lock), free ports before anything is
touched, private files, and supervision (a service that dies is restarted, with backoff).

Used by ``devstack.stack``; kept apart so the stack's wiring and its safety do not mix.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from outlayer.errors import ErrorCode, OutlayerError, invalid_argument

LOCK_FILE = "dev.lock"
FIRST_BACKOFF_S = 1.0
MAX_BACKOFF_S = 30.0
# A service that stayed up this long is healthy again: its next crash restarts it at once.
HEALTHY_AFTER_S = 60.0


class DevLock:
    """An exclusive ``flock`` on ``DIR/dev.lock`` for as long as the stack runs; the file holds
    the owner's pid, so a second ``outlayer dev`` can say which stack is running. The kernel
    drops the lock when the process ends, however it ends: a stale file never blocks."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            raise OutlayerError(
                ErrorCode.IN_USE,
                f"another `outlayer dev` (pid {holder}) is running on {self.path.parent}; stop "
                f"it first (Ctrl-C in its terminal, or `kill {holder}`), or start this one with "
                "--dir on another folder and other ports",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = None


def check_ports_free(ports: Mapping[str, int], host: str = "127.0.0.1") -> None:
    """Refuses, before anything is touched, when a port the stack needs is taken."""
    taken = []
    for name, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # As the services bind: a port held only by connections in TIME_WAIT is free.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                taken.append(f"{port} ({name}: --{name}-port)")
    if taken:
        raise OutlayerError(
            ErrorCode.IN_USE,
            f"port{'s' if len(taken) > 1 else ''} {', '.join(taken)} already in use on {host}; "
            "stop what listens there (`ss -ltnp` shows it) or choose other ports",
        )


def private_folder(directory: Path) -> None:
    """The dev folder holds keys, tokens and the database: the owner's alone."""
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        directory.chmod(0o700)
    except OSError as exc:  # a file by that name, a folder we may not write, a full disk
        raise invalid_argument(
            f"{directory} cannot be the dev folder: {exc.strerror or exc}; name another folder "
            "with --dir (it is created if missing)"
        ) from None


def write_private(path: Path, text: str) -> None:
    """Writes a file readable by its owner only (created so: never briefly world-readable)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    os.fchmod(fd, 0o600)  # an older file keeps its mode through O_CREAT
    with os.fdopen(fd, "w") as handle:
        handle.write(text)


@dataclass
class Supervised:
    name: str
    start: Callable[[], subprocess.Popen[bytes]]
    process: subprocess.Popen[bytes]
    restartable: bool = True
    started_at: float = field(default_factory=time.monotonic)
    backoff_s: float = 0.0
    restart_at: float | None = None
    restarts: int = 0


class Supervisor:
    """Restarts services that die, with exponential backoff (1 s doubling to 30 s, back to
    nothing once a service has stayed up a minute), logging each exit and restart. A service
    that cannot be restarted (localnet keeps its chain in memory) stops the stack instead."""

    def __init__(self, log: Callable[[str], None], clock: Callable[[], float] = time.monotonic):
        self._log = log
        self._clock = clock
        self.services: dict[str, Supervised] = {}

    def add(
        self, name: str, start: Callable[[], subprocess.Popen[bytes]], restartable: bool = True
    ) -> subprocess.Popen[bytes]:
        process = start()
        self.services[name] = Supervised(name, start, process, restartable, self._clock())
        return process

    def check(self) -> str | None:
        """One round: restarts what is due; returns why the stack must stop, or None."""
        now = self._clock()
        for service in self.services.values():
            if service.restart_at is not None:
                if now >= service.restart_at:
                    service.restart_at = None
                    service.process = service.start()
                    service.started_at = now
                    service.restarts += 1
                    self._log(
                        f"{service.name} restarted (pid {service.process.pid}, restart "
                        f"{service.restarts})"
                    )
                continue
            code = service.process.poll()
            if code is None:
                if service.backoff_s and now - service.started_at >= HEALTHY_AFTER_S:
                    service.backoff_s = 0.0
                continue
            if not service.restartable:
                return f"{service.name} exited with code {code}; it cannot be restarted"
            if now - service.started_at >= HEALTHY_AFTER_S:
                service.backoff_s = 0.0
            service.backoff_s = min(max(service.backoff_s * 2, FIRST_BACKOFF_S), MAX_BACKOFF_S)
            service.restart_at = now + service.backoff_s
            self._log(
                f"{service.name} exited with code {code}; restarting it in {service.backoff_s:g} s"
            )
        return None

    def exited(self) -> list[str]:
        """Services whose process has ended (and is not yet restarted)."""
        return [s.name for s in self.services.values() if s.process.poll() is not None]
