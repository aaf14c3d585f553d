"""Process isolation: hard kills, dead workers, and nothing shared between executions; for
workers started directly and for workers forked from the zygote (what the pool uses)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from outlayer.config import Settings
from outlayer.errors import ExecutionErrorType
from outlayer.limits import ResourceLimits
from services.executor._pool import Deadlines, NotDelivered, WorkerPool, WorkerProcess, Zygote
from services.executor._protocol import encode_job
from services.executor._sandbox import RawOutcome, SandboxJob
from tests.conftest import wat_guest

LIMITS = ResourceLimits(max_instructions=10**9, max_memory_mb=64, max_execution_seconds=2.0)


def _payload(guest: str, settings: Settings, limits: ResourceLimits = LIMITS) -> bytes:
    job = SandboxJob(b"", {}, limits, 1024, 1024)
    return encode_job(job, wat_guest(guest), str(settings.executor.module_cache_dir))


@pytest.fixture(params=["direct", "zygote"], scope="module")
def new_worker(request: pytest.FixtureRequest) -> Iterator[Callable[[], WorkerProcess]]:
    if request.param == "direct":
        yield WorkerProcess
        return
    zygote = Zygote()
    yield lambda: WorkerProcess(zygote)
    zygote.close()


def _run_in_thread(worker: WorkerProcess, payload: bytes, deadlines: Deadlines) -> list[RawOutcome]:
    outcomes: list[RawOutcome] = []
    thread = threading.Thread(target=lambda: outcomes.append(worker.run(payload, deadlines)))
    thread.start()
    return outcomes


def test_stuck_worker_is_killed_at_the_hard_deadline(
    settings: Settings, new_worker: Callable[[], WorkerProcess]
) -> None:
    worker = new_worker()
    assert worker.wait_ready()
    deadlines = Deadlines(compile_seconds=30, run_seconds=1.5, kill_grace_seconds=0.5)
    began = time.monotonic()
    thread_result = _run_in_thread(worker, _payload("sleep_in_host_call", settings), deadlines)
    time.sleep(0.7)  # the guest is asleep in poll_oneoff; now freeze the whole process
    os.kill(worker.pid, signal.SIGSTOP)
    while not thread_result:
        time.sleep(0.05)
    outcome = thread_result[0]
    assert outcome.error_type is ExecutionErrorType.TIMEOUT
    assert "killed" in outcome.error_message
    assert time.monotonic() - began < 10
    # The process group is gone.
    assert not os.path.exists(f"/proc/{worker.pid}") or _is_zombie_or_gone(worker.pid)


def test_worker_killed_mid_run_is_a_worker_failure(
    settings: Settings, new_worker: Callable[[], WorkerProcess]
) -> None:
    worker = new_worker()
    assert worker.wait_ready()
    deadlines = Deadlines(compile_seconds=30, run_seconds=20, kill_grace_seconds=0.5)
    thread_result = _run_in_thread(worker, _payload("sleep_in_host_call", settings), deadlines)
    time.sleep(0.5)
    os.kill(worker.pid, signal.SIGKILL)
    while not thread_result:
        time.sleep(0.05)
    outcome = thread_result[0]
    assert outcome.error_type is ExecutionErrorType.WORKER_FAILURE
    assert "signal 9" in outcome.error_message


def test_worker_frozen_before_compiling_hits_compile_deadline(
    settings: Settings, new_worker: Callable[[], WorkerProcess]
) -> None:
    worker = new_worker()
    assert worker.wait_ready()
    os.kill(worker.pid, signal.SIGSTOP)
    deadlines = Deadlines(compile_seconds=0.5, run_seconds=5, kill_grace_seconds=0.5)
    outcome = worker.run(_payload("hello", settings), deadlines)
    assert outcome.error_type is ExecutionErrorType.WORKER_FAILURE
    assert "compiling" in outcome.error_message


def test_each_worker_runs_once(settings: Settings, new_worker: Callable[[], WorkerProcess]) -> None:
    worker = new_worker()
    assert worker.wait_ready()
    deadlines = Deadlines(compile_seconds=30, run_seconds=5, kill_grace_seconds=0.5)
    first = worker.run(_payload("hello", settings), deadlines)
    assert first.error_type is None and first.stdout == b"hello\n"
    worker.kill()
    with pytest.raises(NotDelivered):  # the pool then gives the job to another worker
        worker.run(_payload("hello", settings), deadlines)


def _is_zombie_or_gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] == "Z"
    except FileNotFoundError:
        return True


def test_workers_forked_from_the_zygote_share_nothing(
    settings: Settings, new_worker: Callable[[], WorkerProcess]
) -> None:
    """Each worker is its own process in its own session, and the host's environment is not
    theirs (the zygote starts with an empty one)."""
    first, second = new_worker(), new_worker()
    assert first.wait_ready() and second.wait_ready()
    assert first.pid != second.pid
    for worker in (first, second):
        assert os.getsid(worker.pid) == worker.pid  # a session of its own
        with open(f"/proc/{worker.pid}/environ", "rb") as environ:
            names = {entry.split(b"=")[0] for entry in environ.read().split(b"\0") if entry}
        assert names <= {b"PATH", b"LANG", b"PYTHONPATH"}
        worker.kill()


def _idle_spare(pool: WorkerPool) -> WorkerProcess:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        spares: list[WorkerProcess] = list(pool._idle.queue)
        if spares and spares[0].wait_ready():
            return spares[0]
        time.sleep(0.05)
    raise AssertionError("the pool started no spare worker")


@pytest.mark.parametrize("noticed", [True, False], ids=["noticed-dead", "dies-at-hand-over"])
def test_a_dead_spare_does_not_fail_the_next_caller(
    settings: Settings, noticed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A spare killed while it waits (OOM killer, an operator) is replaced: the next job runs.
    Whether the pool sees it dead before handing it out, or only when the job cannot be sent."""
    pool = WorkerPool(size=1)
    try:
        spare = _idle_spare(pool)
        os.kill(spare.pid, signal.SIGKILL)
        while spare.alive():
            time.sleep(0.02)
        if not noticed:
            monkeypatch.setattr(WorkerProcess, "alive", lambda self: True)
        deadlines = Deadlines(compile_seconds=30, run_seconds=5, kill_grace_seconds=0.5)
        outcome = pool.run(_payload("hello", settings), deadlines)
        assert outcome.error_type is None, outcome
        assert outcome.stdout == b"hello\n"
    finally:
        pool.close()
