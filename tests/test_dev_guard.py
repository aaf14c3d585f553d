"""`outlayer dev` owns its folder and ports before it touches anything, keeps its secrets
private, fails fast and clearly while starting, and restarts services that die."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import pytest

from devstack import stack as devstack
from devstack.ports import Ports
from devstack.stack import DevStack
from devstack.supervise import (
    FIRST_BACKOFF_S,
    DevLock,
    Supervisor,
    check_ports_free,
    write_private,
)
from devtools.ports import free_port
from outlayer.errors import OutlayerError

HOLD_LOCK = """
import sys, time
from pathlib import Path
from devstack.supervise import DevLock
DevLock(Path(sys.argv[1])).acquire()
print("locked", flush=True)
time.sleep(600)
"""


def _dev_ports() -> list[str]:
    names = ["localnet", "coordinator", "executor", "edge", "keystore", "compiler", "crates"]
    return [arg for name in names for arg in (f"--{name}-port", str(free_port()))]


def _plant(folder: Path) -> dict[str, str]:
    """What a running stack has in its folder: it must survive a refused second start."""
    folder.mkdir(parents=True, exist_ok=True)
    planted = {"admin.token": "first-stack-admin", "coordinator.db": "first-stack-db",
               "payment.key": "olk_first"}  # fmt: skip
    for name, text in planted.items():
        (folder / name).write_text(text)
    return planted


def _holder(folder: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(folder)],
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
    return holder


def test_a_second_stack_on_the_same_folder_is_refused_and_touches_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "dev"
    planted = _plant(folder)
    holder = _holder(folder)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "cli.main", "dev", "--dir", str(folder),
             *_dev_ports()],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 2, done.stderr
        assert (
            f"error: in_use: another `outlayer dev` (pid {holder.pid}) is running on {folder}"
        ) in done.stderr
        for name, text in planted.items():
            assert (folder / name).read_text() == text
    finally:
        holder.kill()
        holder.wait()
    # The lock goes with its process: a stale lock file does not block the next start.
    lock = DevLock(folder)
    lock.acquire()
    assert (folder / "dev.lock").read_text().strip() == str(os.getpid())
    lock.release()


def test_a_taken_port_is_refused_before_anything_is_touched(tmp_path: Path) -> None:
    folder = tmp_path / "dev"
    planted = _plant(folder)
    ports = _dev_ports()
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports[ports.index("--edge-port") + 1] = str(taken)
        done = subprocess.run(
            [sys.executable, "-m", "cli.main", "dev", "--dir", str(folder), *ports],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert f"error: in_use: port {taken} (edge: --edge-port) already in use" in done.stderr
    for name, text in planted.items():
        assert (folder / name).read_text() == text
    # Refused on a folder that did not exist: it does not exist after either.
    fresh = tmp_path / "fresh"
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        ports[ports.index("--edge-port") + 1] = str(squatter.getsockname()[1])
        done = subprocess.run(
            [sys.executable, "-m", "cli.main", "dev", "--dir", str(fresh), *ports],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert done.returncode == 2 and "already in use" in done.stderr, done.stderr
    assert not fresh.exists()
    with pytest.raises(OutlayerError, match="already in use"), socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        check_ports_free({"localnet": other.getsockname()[1]})


def test_private_files_are_created_owner_only_even_over_an_old_file(tmp_path: Path) -> None:
    old = tmp_path / "admin.token"
    old.write_text("old")
    old.chmod(0o644)
    write_private(old, "new")
    write_private(tmp_path / "payment.key", "olk_x")
    for path in (old, tmp_path / "payment.key"):
        assert path.stat().st_mode & 0o777 == 0o600
    assert old.read_text() == "new"


def _own_ports() -> Ports:
    """Free ports, never the defaults a user's `make run` holds."""
    return Ports(*(free_port() for _ in fields(Ports)))


def _exiting(code: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", f"raise SystemExit({code})"])


def test_a_service_that_exits_while_starting_fails_the_wait_at_once(tmp_path: Path) -> None:
    stack = DevStack(tmp_path, _own_ports(), log=lambda _: None)
    stack.supervisor.add("coordinator", lambda: _exiting(4))
    stack.processes["coordinator"].wait()
    with pytest.raises(OutlayerError, match=r"coordinator \(exit code 4\) exited"):
        stack._wait(lambda: False, "the coordinator", ("coordinator",), timeout_s=120)


def test_a_slow_start_says_what_is_still_starting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(devstack, "PROGRESS_EVERY_S", 0.1)
    said: list[str] = []
    stack = DevStack(tmp_path, _own_ports(), log=said.append)
    with pytest.raises(OutlayerError, match=r"within 0.5 s \(still starting: edge\)"):
        stack._wait(lambda: False, "the edge", ("edge",), timeout_s=0.5)
    assert any(line.startswith("waiting for the edge (") for line in said), said


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_supervisor_restarts_with_backoff_and_gives_up_on_localnet() -> None:
    clock, said = _Clock(), list[str]()
    supervisor = Supervisor(said.append, clock)
    starts: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        starts.append(_exiting(3))
        starts[-1].wait()
        return starts[-1]

    supervisor.add("edge", start)
    assert supervisor.check() is None
    assert said[-1] == f"edge exited with code 3; restarting it in {FIRST_BACKOFF_S:g} s"
    assert len(starts) == 1  # not before its backoff
    clock.now += FIRST_BACKOFF_S
    assert supervisor.check() is None
    assert len(starts) == 2 and said[-1].startswith("edge restarted (pid ")
    supervisor.check()
    assert said[-1] == f"edge exited with code 3; restarting it in {2 * FIRST_BACKOFF_S:g} s"
    supervisor.add("localnet", lambda: _exiting(1), restartable=False)
    supervisor.services["localnet"].process.wait()
    assert supervisor.check() == "localnet exited with code 1; it cannot be restarted"


def test_impossible_ports_and_folders_are_refused_in_one_line(tmp_path: Path) -> None:
    a_file = tmp_path / "a-file"
    a_file.write_text("keep me")
    cases = [
        (["--edge-port", "99999"], "a port is a number from 1 to 65535, got 99999"),
        (["--localnet-port", "-1"], "a port is a number from 1 to 65535, got -1"),
        (["--crates-port", "http"], "a port is a number from 1 to 65535, got 'http'"),
        (["--dir", str(a_file)], f"{a_file} cannot be the dev folder"),
        (["--dir", str(a_file / "below")], f"{a_file / 'below'} cannot be the dev folder"),
    ]
    # Its own folder and free ports first (a user's `make run` holds the defaults); each case's
    # own value comes after, and argparse takes the last.
    own = [*_dev_ports(), "--dir", str(tmp_path / "dev")]
    for args, says in cases:
        done = subprocess.run([sys.executable, "-m", "cli.main", "dev", *own, *args],
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert done.returncode == 2, (args, done.stderr)
        assert says in done.stderr, (args, done.stderr)
        assert "Traceback" not in done.stderr, done.stderr
    assert a_file.read_text() == "keep me"


def test_a_running_stack_is_found_on_its_own_ports(tmp_path: Path) -> None:
    """`dev request` and `dev demo` take the ports the stack on --dir recorded when it started,
    and any port given on the command line over them."""
    from devstack.ports import Ports, record_ports, recorded_ports

    assert recorded_ports(tmp_path) == Ports()  # no stack there yet: the defaults
    record_ports(tmp_path, Ports(localnet=4040, edge=9443))
    assert (tmp_path / "stack.json").stat().st_mode & 0o777 == 0o600
    assert recorded_ports(tmp_path) == Ports(localnet=4040, edge=9443)
    assert recorded_ports(tmp_path, edge=7443) == Ports(localnet=4040, edge=7443)
    (tmp_path / "stack.json").write_text("{not json")
    with pytest.raises(OutlayerError, match="unreadable"):
        recorded_ports(tmp_path)
