"""Process isolation: hard kills, dead workers, and nothing shared between executions; for
workers started directly and for workers forked from the zygote (what the pool uses)."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import wasmtime

from outlayer.config import Settings
from outlayer.errors import ExecutionErrorType
from outlayer.limits import ResourceLimits
from services.executor._pool import Deadlines, NotDelivered, WorkerPool, WorkerProcess, Zygote
from services.executor._protocol import encode_job
from services.executor._sandbox import (
    GuestRun,
    ModuleCache,
    RawOutcome,
    SandboxJob,
    Watchdog,
    compile_module,
    make_engine,
)
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


# Prints 16 bytes at 1024 (a data segment, "ORIGINAL", then zeros), overwrites them with its
# input and prints them again: a run that saw an earlier run's memory would print that run's
# input first.
MEMORY_GUEST = """
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read"
    (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 1024) "ORIGINAL")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 16))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))
"""
SECRET = b"SECRET-1SECRET-2"
FRESH_MEMORY = b"ORIGINAL" + bytes(8) + SECRET  # what it found, then what it wrote
DEADLINES = Deadlines(compile_seconds=30, run_seconds=5, kill_grace_seconds=0.5)


def _memory_payload(settings: Settings) -> bytes:
    job = SandboxJob(SECRET, {}, LIMITS, 1024, 1024)
    wasm = bytes(wasmtime.wat2wasm(MEMORY_GUEST))
    return encode_job(job, wasm, str(settings.executor.module_cache_dir))


def test_a_worker_with_a_preloaded_module_starts_from_fresh_memory(settings: Settings) -> None:
    """The zygote keeps the compiled module in memory for the workers it forks later; each of
    them still instantiates it anew: the data segment as compiled, nothing a job wrote."""
    zygote = Zygote()
    try:
        zygote.preload("/nonexistent/module.cwasm")  # gone or damaged: ignored
        first = WorkerProcess(zygote)
        assert first.wait_ready()
        outcome = first.run(_memory_payload(settings), DEADLINES)
        assert outcome.error_type is None, outcome
        assert outcome.stdout == FRESH_MEMORY
        assert first.loaded_path.endswith(".cwasm")  # it read (or built) the module itself
        first.kill()
        zygote.preload(first.loaded_path)
        for _ in range(2):
            worker = WorkerProcess(zygote)
            assert worker.wait_ready()
            outcome = worker.run(_memory_payload(settings), DEADLINES)
            assert outcome.error_type is None, outcome
            assert worker.loaded_path == ""  # found in memory: preloaded by the zygote
            assert outcome.stdout == FRESH_MEMORY  # not the SECRET the job before wrote
            worker.kill()
    finally:
        zygote.close()


def _wait_for_spare(pool: WorkerPool, previous: WorkerProcess | None) -> WorkerProcess:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        spare = _idle_spare(pool)
        if spare is not previous:
            return spare
        time.sleep(0.02)
    raise AssertionError("the pool started no new spare worker")


def test_the_pool_preloads_the_module_a_job_used(settings: Settings) -> None:
    """After a job, the workers forked next have its module in memory: with the compiled file
    deleted, the next jobs run without rebuilding it, each in fresh memory."""
    pool = WorkerPool(size=1)
    try:
        payload = _memory_payload(settings)
        first_spare = _idle_spare(pool)
        outcome = pool.run(payload, DEADLINES)
        assert outcome.stdout == FRESH_MEMORY, outcome
        _wait_for_spare(pool, first_spare)  # forked after the pool asked for the preload
        compiled = ModuleCache(settings.executor.module_cache_dir).path_for(
            hashlib.sha256(bytes(wasmtime.wat2wasm(MEMORY_GUEST))).hexdigest()
        )
        os.unlink(compiled)
        for _ in range(2):
            outcome = pool.run(payload, DEADLINES)
            assert outcome.error_type is None, outcome
            assert outcome.stdout == FRESH_MEMORY
            assert not os.path.exists(compiled)  # found in memory: nothing was rebuilt
    finally:
        pool.close()


def test_a_dead_zygote_is_restarted_without_failing_a_caller(settings: Settings) -> None:
    pool = WorkerPool(size=1)
    try:
        _idle_spare(pool)
        zygote = pool._zygote
        assert zygote is not None
        zygote._process.kill()
        zygote._process.wait()
        for _ in range(3):  # the spare it forked, then workers of a new zygote
            outcome = pool.run(_payload("hello", settings), DEADLINES)
            assert outcome.error_type is None, outcome
            assert outcome.stdout == b"hello\n"
        assert pool._zygote is not zygote and pool._zygote is not None
        assert pool._zygote.alive()
    finally:
        pool.close()


def test_a_guest_run_runs_once(settings: Settings) -> None:
    engine = make_engine()
    run = GuestRun(engine)
    job = SandboxJob(b"", {}, LIMITS, 1024, 1024)
    module = compile_module(engine, wat_guest("hello"))
    assert run.run(module, job).stdout == b"hello\n"
    with pytest.raises(RuntimeError):
        run.run(module, job)


def test_the_zygote_stays_single_threaded() -> None:
    # A fork copies only the calling thread: a zygote with another thread (wasmtime's runtime,
    # started by a WASI call) would fork workers with its locks held by a thread that is gone.
    zygote = Zygote()
    try:
        worker = WorkerProcess(zygote)  # the zygote has rehearsed a run and forked
        assert worker.wait_ready()
        assert os.listdir(f"/proc/{zygote._process.pid}/task") == [str(zygote._process.pid)]
        worker.kill()
    finally:
        zygote.close()


def test_the_zygote_loads_only_what_a_worker_needs() -> None:
    # Every fork copies the page tables of what the zygote holds, and every exit tears them
    # down: the services' libraries (gRPC, pydantic, protobuf, TLS, attestation) imported by a
    # worker's module through a shared constant once cost each execution ~1.5 ms of CPU.
    zygote = Zygote()
    try:
        worker = WorkerProcess(zygote)
        assert worker.wait_ready()
        with open(f"/proc/{zygote._process.pid}/maps") as maps:
            loaded = maps.read()
        worker.kill()
    finally:
        zygote.close()
    assert "_libwasmtime" in loaded  # what a worker does need
    for library in ("cygrpc", "pydantic_core", "_upb", "cryptography", "dcap_qvl", "_ssl."):
        assert library not in loaded, f"the zygote loaded {library}: import it lazily"


def test_a_watchdog_serves_its_runs_one_after_the_other() -> None:
    # A worker's warm-up and its job share one watchdog: a run disarmed in time never fires
    # it, the next run's own deadline does, and its thread ends after its last run.
    watchdog = Watchdog(runs=2)
    first, second = threading.Event(), threading.Event()
    watchdog.arm(0.05, first.set)
    watchdog.disarm()
    watchdog.arm(0.3, second.set)  # fires after the first run's deadline would have
    assert second.wait(10)
    watchdog.disarm()
    watchdog._thread.join(10)
    assert not watchdog._thread.is_alive()
    assert not first.is_set()
