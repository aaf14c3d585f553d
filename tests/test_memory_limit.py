"""memory_limit is exact: a refused memory.grow is recorded, whatever the step (see _memgrow)."""

from __future__ import annotations

import pytest
import wasmtime

from outlayer.errors import ExecutionErrorType
from outlayer.limits import RequestedLimits
from outlayer.result import ExecutionStatus
from services.executor import ExecutionJob, Executor
from services.executor._memgrow import REFUSED_GROW_EXPORT, route_memory_grow
from services.executor._sandbox import make_engine
from tests.conftest import GUESTS_DIR, wat_guest

MIB = 1024 * 1024
PAGE = 64 * 1024


def test_one_page_steps_end_in_memory_limit(executor: Executor) -> None:
    result = executor.execute(
        ExecutionJob(wat_guest("memory_bomb"), limits=RequestedLimits(max_memory_mb=16))
    )
    assert result.error is not None
    assert result.error.type is ExecutionErrorType.MEMORY_LIMIT
    assert result.resources_used.memory_bytes == 16 * MIB


def test_one_mib_steps_end_in_memory_limit(executor: Executor) -> None:
    """The last granted step leaves 15 pages unused: no guess from the size could tell."""
    result = executor.execute(
        ExecutionJob(wat_guest("memory_bomb_mib_steps"), limits=RequestedLimits(max_memory_mb=16))
    )
    assert result.error is not None
    assert result.error.type is ExecutionErrorType.MEMORY_LIMIT, result
    assert "16 MB" in result.error.message
    assert result.resources_used.memory_bytes == PAGE + 15 * MIB


def test_a_guest_that_handles_the_refusal_succeeds(executor: Executor) -> None:
    result = executor.execute(
        ExecutionJob(wat_guest("memory_refusal_handled"), limits=RequestedLimits(max_memory_mb=16))
    )
    assert result.ok, result
    assert result.status is ExecutionStatus.SUCCESS
    assert result.output == "used the fallback"
    assert result.resources_used.memory_bytes == PAGE


def test_a_guest_that_exits_nonzero_after_a_refusal_is_memory_limit(executor: Executor) -> None:
    result = executor.execute(
        ExecutionJob(wat_guest("memory_refusal_exit"), limits=RequestedLimits(max_memory_mb=16))
    )
    assert result.error is not None
    assert result.error.type is ExecutionErrorType.MEMORY_LIMIT, result
    assert result.exit_code == 1


def test_the_modules_own_maximum_is_not_the_platforms_limit(executor: Executor) -> None:
    result = executor.execute(
        ExecutionJob(wat_guest("memory_own_maximum"), limits=RequestedLimits(max_memory_mb=16))
    )
    assert result.error is not None
    assert result.error.type is ExecutionErrorType.RUNTIME_ERROR, result


def test_an_allocator_message_in_the_logs_is_not_a_memory_limit(executor: Executor) -> None:
    """The logs are the guest's to write: claiming an allocation failure proves nothing."""
    wat = """
    (module
      (import "wasi_snapshot_preview1" "fd_write"
        (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1)
      (data (i32.const 16) "memory allocation of 999999999 bytes failed\\n")
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 16))
        (i32.store (i32.const 4) (i32.const 44))
        (drop (call $fd_write (i32.const 2) (i32.const 0) (i32.const 1) (i32.const 8)))
        unreachable))
    """
    result = executor.execute(
        ExecutionJob(bytes(wasmtime.wat2wasm(wat)), limits=RequestedLimits(max_memory_mb=16))
    )
    assert result.error is not None
    assert result.error.type is ExecutionErrorType.RUNTIME_ERROR, result


def _instance(wasm: bytes, memory_mb: int) -> tuple[wasmtime.Store, wasmtime.Instance]:
    engine = make_engine()
    store = wasmtime.Store(engine)
    store.set_limits(memory_size=memory_mb * MIB)
    store.set_fuel(10**9)
    store.set_epoch_deadline(1)
    module = wasmtime.Module(engine, route_memory_grow(wasm))
    return store, wasmtime.Instance(store, module, [])


def test_every_instruction_kind_around_a_grow_survives_the_rewrite() -> None:
    """A body mixing SIMD, bulk memory, br_table, typed select, 64-bit and float constants
    with memory.grow: decoded instruction by instruction, so the rewrite stays valid and the
    function computes the same thing."""
    wat = """
    (module
      (memory (export "memory") 1)
      (table 2 funcref)
      (global $g (mut i32) (i32.const 7))
      (data $d "abcd")
      (func $id (param i32) (result i32) (local.get 0))
      (elem (i32.const 0) $id $id)
      (func (export "run") (param $n i32) (result i32) (local $v v128) (local $x i64)
        (local.set $v (v128.const i32x4 1 2 3 4))
        (local.set $v (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15
                        (local.get $v) (local.get $v)))
        (v128.store offset=64 (i32.const 0) (local.get $v))
        (local.set $x (i64.const -9223372036854775808))
        (drop (f64.const 1.5)) (drop (f32.const 2.5))
        (memory.fill (i32.const 128) (i32.const 0x40) (i32.const 4))
        (memory.init $d (i32.const 256) (i32.const 0) (i32.const 4))
        (drop (select (result i32) (i32.const 1) (i32.const 2) (i32.const 0)))
        (block $a (block $b (br_table $a $b $a (i32.const 1))))
        (drop (i32x4.extract_lane 3 (local.get $v)))
        (drop (v128.load32_lane 1 (i32.const 0) (local.get $v)))
        (drop (call_indirect (param i32) (result i32) (i32.const 5) (i32.const 1)))
        (drop (memory.grow (local.get $n)))
        (i32.add (i32.add (i32.load offset=64 (i32.const 0)) (i32.load8_u (i32.const 256)))
                 (i32.add (global.get $g) (memory.size)))))
    """
    store, instance = _instance(bytes(wasmtime.wat2wasm(wat)), memory_mb=1)
    run = instance.exports(store)["run"]
    assert isinstance(run, wasmtime.Func)
    assert run(store, 2) == 1 + ord("a") + 7 + 3  # granted: three pages now
    refused = instance.exports(store)[REFUSED_GROW_EXPORT]
    assert isinstance(refused, wasmtime.Global)
    assert refused.value(store) == 0
    assert run(store, 100) == 1 + ord("a") + 7 + 3  # refused: still three pages
    assert refused.value(store) == 103
    run(store, 5)  # a smaller refusal keeps the largest
    assert refused.value(store) == 103


def test_a_module_without_memory_grow_is_unchanged() -> None:
    wasm = wat_guest("hello")
    assert route_memory_grow(wasm) == wasm


@pytest.mark.parametrize("name", ["echo_json_rust.wasm", "echo_json_c.wasm"])
def test_built_guests_still_validate_after_the_rewrite(name: str) -> None:
    wasm = (GUESTS_DIR.parents[1] / "build" / "guests" / name).read_bytes()
    rewritten = route_memory_grow(wasm)
    assert rewritten != wasm  # their allocators grow memory
    wasmtime.Module.validate(make_engine(), rewritten)
