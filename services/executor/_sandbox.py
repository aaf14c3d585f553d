"""Runs one WASI module in this process under wasmtime, metered and capped.

This is the inner layer. It never sees more than one execution per store, and in production it
runs inside a single-use worker process (``_worker``) so that a hard kill can always end it.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import wasmtime

from outlayer.errors import ExecutionErrorType
from outlayer.limits import ResourceLimits
from services.executor._guest_abi import GuestAbi, HostBridge, NoHost
from services.executor._memgrow import (
    REFUSED_GROW_EXPORT,
    UnsupportedInstruction,
    route_memory_grow,
)
from services.executor._wasi_poll import DeadlineReached, make_poll_oneoff, poll_oneoff_type

WASI_MODULE = "wasi_snapshot_preview1"
PLATFORM_MODULE = "outlayer"
# WASI preview 1, and the platform's own module: outlayer.refund_usd(amount: i64) and the
# capabilities of ``_guest_abi`` (storage, randomness, chain reads, fetch).
ALLOWED_IMPORT_MODULES = frozenset({WASI_MODULE, PLATFORM_MODULE})
PLATFORM_FUNCTIONS = frozenset({"refund_usd"}) | GuestAbi.names()
WASM_MAGIC = b"\0asm"
WASM_PAGE = 64 * 1024
MAX_TABLE_ELEMENTS = 1_000_000
MAX_TABLES = 16


@dataclass(frozen=True)
class SandboxJob:
    input: bytes
    env: dict[str, str]
    limits: ResourceLimits
    max_output_bytes: int
    max_log_bytes: int


# What a prepared GuestRun holds until its job arrives.
_NO_JOB = SandboxJob(b"", {}, ResourceLimits(0, 0, 0.0), 0, 0)


@dataclass
class RawOutcome:
    """What a run produced, before the output is rendered in the caller's format."""

    stdout: bytes = b""
    logs: str = ""
    instructions: int = 0
    memory_bytes: int = 0
    time_ms: int = 0
    exit_code: int | None = None
    error_type: ExecutionErrorType | None = None
    error_message: str = ""
    refund_usd: int = 0
    # The raw failure (full wasmtime error with its backtrace, or our own traceback): for the
    # operator's system_hidden_logs only, never part of a result.
    hidden_log: str = ""


class HostFunctionFailure(Exception):
    """One of OutLayer's own host functions failed while the guest called it."""


class InvalidModule(Exception):
    """The bytes are not a module OutLayer can run; carries the error type and message."""

    def __init__(self, error_type: ExecutionErrorType, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


def make_engine() -> wasmtime.Engine:
    config = wasmtime.Config()
    config.consume_fuel = True  # instruction metering
    config.epoch_interruption = True  # wall-clock and output-cap interruption
    # A guest gets one linear memory and one thread: nothing to share, nothing to race.
    config.wasm_threads = False
    config.wasm_multi_memory = False
    config.wasm_memory64 = False
    # Proposals whose instructions the memory.grow rewriter (``_memgrow``) does not decode, or
    # that change what a page is: modules using them are refused as invalid.
    config.wasm_gc = False
    config.wasm_function_references = False
    config.wasm_exceptions = False
    config.wasm_stack_switching = False
    config.wasm_custom_page_sizes = False
    config.wasm_wide_arithmetic = False
    return wasmtime.Engine(config)


class ModuleCache:
    """Compiled modules on disk by SHA-256 of the wasm, so repeat runs skip compilation.

    Only this process writes the directory; files are written whole and renamed into place.
    """

    _FINGERPRINT = "wasmtime50-fuel-epoch-grow"

    def __init__(self, directory: Path | str) -> None:
        self._directory = directory  # made a Path only to write: lookups are on the critical path
        self._prefix = os.path.join(directory, "")

    def path_for(self, sha256: str) -> str:
        # A string, not a Path: this is on every execution's critical path.
        return f"{self._prefix}{sha256}-{self._FINGERPRINT}.cwasm"

    def load(
        self,
        engine: wasmtime.Engine,
        wasm: bytes,
        preloaded: Mapping[str, wasmtime.Module] | None = None,
    ) -> LoadedModule:
        """The module for ``wasm``: from ``preloaded`` (deserialized ahead of time, by path),
        else from its compiled file, else compiled now and written to the cache."""
        check_wasm_bytes(wasm)
        if wasm[6:8] == b"\x01\x00":  # a component's layer: WASI preview 2 (``_components``)
            from services.executor._components import load_component

            return load_component(self, engine, wasm, preloaded)
        path = self.path_for(hashlib.sha256(wasm).hexdigest())
        ready = preloaded.get(path) if preloaded else None
        if ready is not None:
            return LoadedModule(ready, path, preloaded=True)
        if os.path.isfile(path):
            try:
                return LoadedModule(wasmtime.Module.deserialize_file(engine, path), path)
            except wasmtime.WasmtimeError:
                Path(path).unlink(missing_ok=True)  # stale or damaged: rebuild below
        module = compile_module(engine, wasm)
        Path(self._directory).mkdir(parents=True, exist_ok=True)
        partial = Path(f"{path}.{os.getpid()}.tmp")
        partial.write_bytes(module.serialize())
        partial.replace(path)
        return LoadedModule(module, path)


@dataclass(frozen=True)
class LoadedModule:
    module: wasmtime.Module  # or a wasmtime.component.Component (``_components``)
    path: str  # its compiled file in the cache
    preloaded: bool = False  # already in memory: deserialized before this process was forked


def preload(engine: wasmtime.Engine, path: str) -> wasmtime.Module | None:
    """A compiled file of the cache, deserialized (None if it is gone or damaged)."""
    if path.endswith("-component.cwasm"):
        from services.executor._components import preload_component

        return preload_component(engine, path)  # type: ignore[return-value]
    try:
        return wasmtime.Module.deserialize_file(engine, path)
    except (wasmtime.WasmtimeError, OSError):
        return None


def check_wasm_bytes(wasm: bytes) -> None:
    if not wasm.startswith(WASM_MAGIC):
        head = wasm[:8].hex(" ") if wasm else "nothing"
        raise InvalidModule(
            ExecutionErrorType.INVALID_WASM,
            f"not a WebAssembly binary: it must start with the bytes 00 61 73 6d (\\0asm), "
            f"got {head}. Compile to wasm32-wasip1, or pass a .wat file to `outlayer run`",
        )


def compile_module(engine: wasmtime.Engine, wasm: bytes) -> wasmtime.Module:
    check_wasm_bytes(wasm)
    try:
        wasmtime.Module.validate(engine, wasm)
        # Every memory.grow then records a refusal at the limit (see _memgrow).
        module = wasmtime.Module(engine, route_memory_grow(wasm))
    except wasmtime.WasmtimeError as exc:
        raise InvalidModule(
            ExecutionErrorType.INVALID_WASM, f"invalid WebAssembly module: {_first_line(exc)}"
        ) from None
    except UnsupportedInstruction as exc:
        raise InvalidModule(
            ExecutionErrorType.INVALID_WASM,
            f"the module uses {exc}, which OutLayer does not support; build for "
            "wasm32-wasip1 without the GC, exception-handling or threads proposals",
        ) from None
    _check_imports(module)
    return module


def _check_imports(module: wasmtime.Module) -> None:
    foreign = [
        f"{item.module}::{item.name}"
        for item in module.imports
        if item.module not in ALLOWED_IMPORT_MODULES
        or (item.module == PLATFORM_MODULE and item.name not in PLATFORM_FUNCTIONS)
    ]
    if foreign:
        raise InvalidModule(
            ExecutionErrorType.LINK_ERROR,
            f"module imports {', '.join(foreign)}, which OutLayer does not provide; "
            f"guests may import only WASI preview 1 ({WASI_MODULE}) and "
            f"{PLATFORM_MODULE}::{', '.join(sorted(PLATFORM_FUNCTIONS))} (docs/guest-abi.md)",
        )
    if not any(export.name == "_start" for export in module.exports):
        raise InvalidModule(
            ExecutionErrorType.INVALID_WASM,
            "module has no `_start` export: OutLayer runs WASI commands "
            "(a program with a main function built for wasm32-wasip1)",
        )


class Watchdog:
    """Calls ``on_deadline`` once ``seconds`` have passed since :meth:`arm`, unless
    :meth:`disarm` comes first; serves ``runs`` runs (an arm and a disarm each), one after the
    other, then its thread ends. Its thread is started when it is made, which a worker does
    before its job arrives: a thread start per run (``threading.Timer``) would sit on the
    critical path, and a worker's warm-up run and its job share this one thread."""

    def __init__(self, runs: int = 1) -> None:
        self._changed = threading.Condition()
        self._due: float | None = None
        self._on_deadline: Callable[[], None] = _nothing
        self._runs_left = runs
        self._thread = threading.Thread(target=self._watch, name="outlayer-watchdog", daemon=True)
        self._thread.start()

    def arm(self, seconds: float, on_deadline: Callable[[], None]) -> None:
        with self._changed:
            self._due = time.monotonic() + seconds
            self._on_deadline = on_deadline
            self._changed.notify()

    def disarm(self) -> None:
        with self._changed:
            self._due = None
            self._runs_left -= 1
            self._changed.notify()

    def _watch(self) -> None:
        while True:
            with self._changed:
                while True:
                    if self._due is None:
                        if self._runs_left <= 0:
                            return
                        self._changed.wait()
                        continue
                    remaining = self._due - time.monotonic()
                    if remaining <= 0:
                        break
                    self._changed.wait(remaining)
                on_deadline, self._due = self._on_deadline, None
            on_deadline()


def _nothing() -> None:
    return None


def _no_poll(*_args: object) -> int:
    raise RuntimeError("poll_oneoff called before the run began")


class GuestRun:
    """One execution of one module: owns the store, the captured streams and the deadline.

    Everything that does not depend on the job (the store, the linker with its host functions,
    the watchdog's thread) is made in the constructor, so a worker makes it before its job
    arrives; :meth:`run` then runs one module once."""

    def __init__(
        self,
        engine: wasmtime.Engine,
        *,
        retain: bool = False,
        watchdog: Watchdog | None = None,
        host: HostBridge | None = None,
    ) -> None:
        """``retain``: keep the store and the linker once the run is over instead of freeing
        them as it returns (a single-use worker leaves without freeing anything).
        ``watchdog``: one made for more than one run (by default, one of its own).
        ``host``: what answers the guest's host calls (by default nothing: each says its
        capability is not enabled); it can be given later, before the run, as ``abi.bridge``."""
        self._engine = engine
        self._retain = retain
        self.spent: tuple[wasmtime.Store, wasmtime.Linker] | None = None
        self._job = _NO_JOB
        self._used = False
        self._stdout = bytearray()
        self._logs = bytearray()
        self._logs_dropped = 0
        self._output_overflow = False
        self._deadline = threading.Event()
        self._refund_usd = 0
        self._refused_grow_bytes = 0  # the largest size a refused memory.grow asked for
        self._poll_oneoff: Callable[..., int] = _no_poll
        self._store = wasmtime.Store(engine)
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        linker.allow_shadowing = True
        linker.define_func(
            WASI_MODULE,
            "poll_oneoff",
            poll_oneoff_type(),  # types are made per linker: wasmtime ties one to one engine
            self._on_poll_oneoff,
            access_caller=True,
        )
        linker.define_func(
            PLATFORM_MODULE,
            "refund_usd",
            wasmtime.FuncType([wasmtime.ValType.i64()], []),
            self._on_refund_usd,
        )
        # Defined at the run, for a module that imports them: most modules do not, and
        # defining them costs a worker ~0.5 ms of CPU (a module's imports take ~20 us to read).
        self.abi = GuestAbi(host or NoHost())
        self._linker = linker
        self._wasi = self._prepare_wasi()
        self._watchdog = watchdog or Watchdog()

    # --- captured streams (called by wasmtime on the guest's thread) ---------------------------
    def _on_stdout(self, data: bytes) -> int:
        room = self._job.max_output_bytes - len(self._stdout)
        if len(data) > room:
            self._stdout += data[: max(room, 0)]
            if not self._output_overflow:
                self._output_overflow = True
                self._engine.increment_epoch()  # stop the guest at its next epoch check
        else:
            self._stdout += data
        return len(data)

    def _on_stderr(self, data: bytes) -> int:
        room = self._job.max_log_bytes - len(self._logs)
        kept = data[: max(room, 0)]
        self._logs += kept
        self._logs_dropped += len(data) - len(kept)
        return len(data)

    def _on_refund_usd(self, amount: int) -> None:
        """The guest gives part of an attached USD payment back; capped at what was attached
        (ATTACHED_USD), and only the last call counts."""
        attached = self._job.env.get("ATTACHED_USD", "0")
        cap = int(attached) if attached.isdigit() else 0
        self._refund_usd = max(0, min(amount, cap))

    def _on_poll_oneoff(self, caller: wasmtime.Caller, *args: int) -> int:
        return self._poll_oneoff(caller, *args)  # made per run: it waits at most the run's limit

    def _on_deadline(self) -> None:
        self._deadline.set()
        self._engine.increment_epoch()

    # --- the run -------------------------------------------------------------------------------
    def run(self, module: wasmtime.Module, job: SandboxJob) -> RawOutcome:
        if self._used:
            raise RuntimeError("a GuestRun runs one job; make a new one")
        self._used = True
        self._job = job
        limits = job.limits
        # This object no longer holds them: the store and the linker hold this object's
        # callbacks, and without a cycle they are freed as soon as the run returns.
        store, linker = self._store, self._linker
        del self._store, self._linker
        self._configure(store, limits)

        outcome = RawOutcome()
        instance: wasmtime.Instance | None = None
        memory: object = None  # the instance's exported memory, once instantiated
        refused: object = None  # its global recording a refused memory.grow (see _memgrow)
        failure: BaseException | None = None
        started = time.perf_counter()
        self._watchdog.arm(limits.max_execution_seconds, self._on_deadline)
        try:
            if _uses_host_functions(module):
                self.abi.define(linker)
            instance = linker.instantiate(store, module)
            exports = instance.exports(store)
            memory, refused = exports.get("memory"), exports.get(REFUSED_GROW_EXPORT)
            start = exports["_start"]
            assert isinstance(start, wasmtime.Func)
            start(store)
            outcome.exit_code = 0
        except wasmtime.ExitTrap as exc:
            outcome.exit_code = exc.code
        except (wasmtime.Trap, wasmtime.WasmtimeError, DeadlineReached) as exc:
            failure = exc
        except Exception as exc:  # a bug in one of our host functions, not the guest's fault
            failure = HostFunctionFailure(f"{type(exc).__name__}: {exc}")
            outcome.hidden_log = traceback.format_exc()
        finally:
            self._watchdog.disarm()
            outcome.time_ms = round((time.perf_counter() - started) * 1000)

        outcome.instructions = limits.max_instructions - store.get_fuel()
        outcome.memory_bytes = _memory_size(store, memory)
        self._refused_grow_bytes = _refused_grow_pages(store, refused) * WASM_PAGE
        outcome.stdout = bytes(self._stdout)
        outcome.logs = self._render_logs()
        outcome.refund_usd = self._refund_usd
        if failure is not None and not outcome.hidden_log:
            outcome.hidden_log = f"{type(failure).__name__}: {failure}"
        self._classify(outcome, failure, instantiated=instance is not None)
        if self._retain:
            self.spent = (store, linker)
        return outcome

    def _configure(self, store: wasmtime.Store, limits: ResourceLimits) -> None:
        store.set_wasi(self._wasi_config())
        del self._wasi
        store.set_limits(
            memory_size=limits.max_memory_bytes,
            table_elements=MAX_TABLE_ELEMENTS,
            instances=1,
            tables=MAX_TABLES,
            memories=1,
        )
        store.set_fuel(limits.max_instructions)
        store.set_epoch_deadline(1)
        self._poll_oneoff = make_poll_oneoff(self._deadline, limits.max_execution_seconds + 1)

    def _prepare_wasi(self) -> wasmtime.WasiConfig:
        """The WASI configuration but for the job's variables and input."""
        wasi = wasmtime.WasiConfig()
        wasi.argv = ["main"]
        wasi.stdout_custom = self._on_stdout
        wasi.stderr_custom = self._on_stderr
        return wasi  # no preopened directories: the guest sees no file system

    def _wasi_config(self) -> wasmtime.WasiConfig:
        wasi = self._wasi
        wasi.env = sorted(self._job.env.items())  # the job's variables and nothing else
        # stdin from an anonymous in-memory file: no disk, and the guest cannot block on it.
        # (wasmtime takes the file's contents as it sets it: the input must be written first.)
        fd = os.memfd_create("outlayer-stdin", os.MFD_CLOEXEC)
        try:
            view = memoryview(self._job.input)
            while view:
                view = view[os.write(fd, view) :]
            wasi.stdin_file = f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        return wasi

    def _render_logs(self) -> str:
        text = self._logs.decode("utf-8", errors="replace")
        if self._logs_dropped:
            text += (
                f"\n[outlayer: {self._logs_dropped} more bytes of logs dropped; "
                f"the cap is {self._job.max_log_bytes} bytes]"
            )
        return text

    def _classify(
        self, outcome: RawOutcome, failure: BaseException | None, instantiated: bool
    ) -> None:
        limits = self._job.limits
        kind: ExecutionErrorType | None = None
        message = ""
        if self._output_overflow:
            kind = ExecutionErrorType.OUTPUT_LIMIT
            message = (
                f"output exceeded the cap of {self._job.max_output_bytes} bytes; "
                "the guest was stopped. Write less to stdout (use stderr for logs)"
            )
        elif self._deadline.is_set() and (failure is not None or outcome.exit_code != 0):
            kind = ExecutionErrorType.TIMEOUT
            message = (
                f"wall-clock limit of {limits.max_execution_seconds:g} s reached; "
                "raise max_execution_seconds or do less work"
            )
        elif isinstance(failure, HostFunctionFailure):
            kind = ExecutionErrorType.WORKER_FAILURE
            # What failed is ours to know (hidden_log), not the caller's.
            message = (
                "the platform failed while serving one of the guest's system calls; this is "
                "not the guest's fault and is not charged. Please report it with the call id"
            )
        elif isinstance(failure, wasmtime.Trap):
            kind, message = self._classify_trap(failure, outcome)
        elif failure is not None:
            text = _first_line(failure)
            if "exceeds memory limits" in text:
                kind = ExecutionErrorType.MEMORY_LIMIT
                message = (
                    f"the module's initial memory is larger than the limit of "
                    f"{limits.max_memory_mb} MB: {text}"
                )
            elif not instantiated and ("import" in text or "incompatible" in text):
                kind = ExecutionErrorType.LINK_ERROR
                message = f"{text}; guests may import only WASI preview 1 ({WASI_MODULE})"
            else:
                kind = ExecutionErrorType.RUNTIME_ERROR
                message = text
        elif outcome.exit_code not in (None, 0):
            if self._memory_refused():
                kind, message = ExecutionErrorType.MEMORY_LIMIT, self._memory_message()
            else:
                kind = ExecutionErrorType.EXIT_CODE
                message = f"the guest exited with code {outcome.exit_code}"
        outcome.error_type = kind
        outcome.error_message = message

    def _classify_trap(
        self, trap: wasmtime.Trap, outcome: RawOutcome
    ) -> tuple[ExecutionErrorType, str]:
        code = trap.trap_code
        if code == wasmtime.TrapCode.OUT_OF_FUEL:
            return ExecutionErrorType.INSTRUCTION_LIMIT, (
                f"instruction limit of {self._job.limits.max_instructions} reached; "
                "raise max_instructions or do less work"
            )
        if self._memory_refused():
            return ExecutionErrorType.MEMORY_LIMIT, self._memory_message()
        if code == wasmtime.TrapCode.STACK_OVERFLOW:
            return ExecutionErrorType.RUNTIME_ERROR, (
                "stack overflow: the call stack grew too deep (unbounded recursion?)"
            )
        return ExecutionErrorType.RUNTIME_ERROR, f"guest trapped: {_trap_text(trap)}"

    def _memory_refused(self) -> bool:
        """Was a memory.grow refused because it would cross the limit? Exact: every grow is
        routed through a function that records the largest refused request (``_memgrow``).
        A guest that fails after such a refusal failed for memory; one that coped with it
        (checked the -1 and still produced its output, exit 0) succeeded."""
        return self._refused_grow_bytes > self._job.limits.max_memory_bytes

    def _memory_message(self) -> str:
        return (
            f"memory limit of {self._job.limits.max_memory_mb} MB reached (memory.grow was "
            "denied); raise max_memory_mb or use less memory"
        )


# What a worker's warm-up runs (``_worker``): the host calls a real guest makes (stdout, stderr,
# memory.grow, a sleep).
_WARM_UP_WAT = """
(module
  (import "wasi_snapshot_preview1" "fd_write"
    (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll_oneoff (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "w")
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 1))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
    (drop (memory.grow (i32.const 0)))
    ;; one relative clock subscription of 0 ns at 64, its event at 128
    (drop (call $poll_oneoff (i32.const 64) (i32.const 128) (i32.const 1) (i32.const 12)))))
"""


WARM_UP_WASM = bytes(wasmtime.wat2wasm(_WARM_UP_WAT))
# What the zygote runs once itself (``rehearse``): no WASI call, which would start wasmtime's
# runtime threads in a process that must stay single-threaded.
_REHEARSAL_WAT = """
(module
  (import "outlayer" "refund_usd" (func $refund (param i64)))
  (memory (export "memory") 1)
  (global $g (export "g") (mut i32) (i32.const 0))
  (func (export "_start")
    (drop (memory.grow (i32.const 0)))
    (global.set $g (i32.const 1))
    (call $refund (i64.const 0))))
"""
REHEARSAL_WASM = bytes(wasmtime.wat2wasm(_REHEARSAL_WAT))
WARM_UP_JOB = SandboxJob(
    b"",
    {},
    ResourceLimits(max_instructions=10_000, max_memory_mb=1, max_execution_seconds=1),
    max_output_bytes=1,
    max_log_bytes=1,
)


def rehearse(engine: wasmtime.Engine, module: wasmtime.Module) -> None:
    """Takes ``REHEARSAL_WASM`` (``module``) once down the path of a run, in the zygote, but
    for what starts threads (the watchdog, WASI calls): the first-time work of wasmtime and of
    its Python binding (type registrations, lazily built wrappers, caches) is then done once,
    before the forks, instead of in every worker. Nothing of it is kept: the store, its
    instance and its memory are freed as this returns, and no guest of a job runs here."""
    store = wasmtime.Store(engine)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    linker.allow_shadowing = True
    linker.define_func(WASI_MODULE, "poll_oneoff", poll_oneoff_type(), _no_poll,
                       access_caller=True)  # fmt: skip
    linker.define_func(PLATFORM_MODULE, "refund_usd",
                       wasmtime.FuncType([wasmtime.ValType.i64()], []), _nothing_with)  # fmt: skip
    wasi = wasmtime.WasiConfig()
    wasi.argv = ["main"]
    wasi.stdout_custom = len
    wasi.stderr_custom = len
    wasi.env = [("OUTLAYER", "1")]
    store.set_wasi(wasi)
    store.set_limits(memory_size=WASM_PAGE * 2, table_elements=MAX_TABLE_ELEMENTS, instances=1,
                     tables=MAX_TABLES, memories=1)  # fmt: skip
    store.set_fuel(10_000)
    store.set_epoch_deadline(1)
    instance = linker.instantiate(store, module)
    exports = instance.exports(store)
    start = exports["_start"]
    assert isinstance(start, wasmtime.Func)
    start(store)
    store.get_fuel()
    _memory_size(store, exports.get("memory"))
    _refused_grow_pages(store, exports.get("g"))


def _uses_host_functions(module: wasmtime.Module) -> bool:
    return any(
        item.module == PLATFORM_MODULE and item.name != "refund_usd" for item in module.imports
    )


def _nothing_with(*_args: object) -> None:
    return None


def run_job(
    engine: wasmtime.Engine,
    module: wasmtime.Module,
    job: SandboxJob,
    host: HostBridge | None = None,
) -> RawOutcome:
    from wasmtime.component import Component

    from services.executor._components import ComponentRun

    if isinstance(module, Component):
        return ComponentRun(engine, host=host).run_component(module, job)
    return GuestRun(engine, host=host).run(module, job)


def failed_outcome(error_type: ExecutionErrorType, message: str) -> RawOutcome:
    return RawOutcome(error_type=error_type, error_message=message)


def _memory_size(store: wasmtime.Store, memory: object) -> int:
    return memory.data_len(store) if isinstance(memory, wasmtime.Memory) else 0


def _refused_grow_pages(store: wasmtime.Store, refused: object) -> int:
    if not isinstance(refused, wasmtime.Global):
        return 0  # the module has no memory.grow
    value = refused.value(store)
    return value if isinstance(value, int) else 0


def _first_line(exc: BaseException) -> str:
    """The cause of a wasmtime error (it comes after any backtrace), on one line."""
    text = str(exc).strip()
    if "Caused by:" in text:
        text = text.split("Caused by:", 1)[1]
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " ".join(lines)[:1000] if lines else type(exc).__name__


def _trap_text(trap: wasmtime.Trap) -> str:
    lines = [line for line in str(trap).splitlines() if line.strip()]
    # wasmtime puts the cause after the backtrace; keep the cause and a short backtrace.
    return " | ".join(lines[-1:] + lines[:6])[:1000]
