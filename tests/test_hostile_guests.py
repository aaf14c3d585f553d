"""The hostile corpus: every guest is contained, with the exact error type and limits."""

from __future__ import annotations

import base64

import pytest
import wasmtime

from outlayer.errors import ExecutionErrorType
from outlayer.limits import RequestedLimits
from outlayer.result import ExecutionStatus, ResponseFormat
from services.executor import ExecutionJob, Executor
from tests.conftest import GUESTS_DIR, wat_guest

MIB = 1024 * 1024


def test_infinite_loop_stops_at_instruction_limit(executor: Executor) -> None:
    result = executor.execute(
        ExecutionJob(wat_guest("infinite_loop"), limits=RequestedLimits(max_instructions=5_000_000))
    )
    assert result.status is ExecutionStatus.FAILED
    assert result.error is not None
    assert result.error.type is ExecutionErrorType.INSTRUCTION_LIMIT
    assert "5000000" in result.error.message
    assert result.resources_used.instructions == 5_000_000
    assert result.output is None


def test_infinite_loop_stops_at_wall_clock_when_fuel_is_plentiful(executor: Executor) -> None:
    result = executor.execute(
        ExecutionJob(
            wat_guest("infinite_loop"),
            limits=RequestedLimits(max_instructions=100_000_000_000, max_execution_seconds=0.5),
        )
    )
    assert result.error is not None
    assert result.error.type is ExecutionErrorType.TIMEOUT
    assert "0.5 s" in result.error.message
    assert result.resources_used.time_ms >= 500


def test_memory_bomb_is_reported_as_memory_limit(executor: Executor) -> None:
    result = executor.execute(
        ExecutionJob(wat_guest("memory_bomb"), limits=RequestedLimits(max_memory_mb=8))
    )
    assert result.error is not None
    assert result.error.type is ExecutionErrorType.MEMORY_LIMIT
    assert result.resources_used.memory_bytes == 8 * MIB
    assert result.resources_used.instructions > 0


def test_memory_limit_applies_to_default_too(executor: Executor) -> None:
    result = executor.execute(ExecutionJob(wat_guest("memory_bomb")))
    assert result.error is not None
    assert result.error.type is ExecutionErrorType.MEMORY_LIMIT
    assert result.resources_used.memory_bytes == 128 * MIB


def test_oversized_initial_memory_is_memory_limit(executor: Executor) -> None:
    result = executor.execute(ExecutionJob(wat_guest("oversized_memory")))
    assert result.error is not None
    assert result.error.type is ExecutionErrorType.MEMORY_LIMIT
    assert "initial memory" in result.error.message


def test_oversized_initial_memory_runs_when_the_limit_allows_it(executor: Executor) -> None:
    result = executor.execute(
        ExecutionJob(wat_guest("oversized_memory"), limits=RequestedLimits(max_memory_mb=256))
    )
    assert result.ok, result
    assert result.resources_used.memory_bytes == 4000 * 64 * 1024


def test_deep_recursion_is_a_runtime_error(executor: Executor) -> None:
    result = executor.execute(ExecutionJob(wat_guest("deep_recursion")))
    assert result.error is not None
    assert result.error.type is ExecutionErrorType.RUNTIME_ERROR
    assert "stack overflow" in result.error.message
    assert result.exit_code is None


def test_trap_is_a_runtime_error_with_the_cause(executor: Executor) -> None:
    result = executor.execute(ExecutionJob(wat_guest("trap")))
    assert result.error is not None
    assert result.error.type is ExecutionErrorType.RUNTIME_ERROR
    assert "divide by zero" in result.error.message
    assert result.exit_code is None


def test_stdout_flood_stops_at_output_cap(executor: Executor) -> None:
    result = executor.execute(ExecutionJob(wat_guest("stdout_flood")))
    assert result.error is not None
    assert result.error.type is ExecutionErrorType.OUTPUT_LIMIT
    assert str(MIB) in result.error.message
    # Stopped at once: 1 MiB is 16 of the 4096 writes the guest would make.
    assert result.resources_used.instructions < 2_000


def test_stderr_flood_is_capped_and_the_run_succeeds(executor: Executor) -> None:
    result = executor.execute(ExecutionJob(wat_guest("stderr_flood")))
    assert result.ok, result
    assert result.logs.startswith("log line\n")
    kept, _, marker = result.logs.partition("\n[outlayer: ")
    assert len(kept.encode()) <= 64 * 1024
    assert "logs dropped" in marker
    assert str(256 * MIB - 64 * 1024) in marker


def test_host_files_are_unreachable_through_every_fd(executor: Executor) -> None:
    result = executor.execute(ExecutionJob(wat_guest("open_host_files"), input=b"stdin is fine"))
    assert result.ok, result  # exit code 0 means zero successful attempts
    assert result.exit_code == 0


def test_host_file_probe_would_notice_a_preopened_directory(tmp_path: object) -> None:
    """The probe guest is able to detect access: with a preopen, wasmtime lets it in."""
    engine = wasmtime.Engine()
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    store = wasmtime.Store(engine)
    wasi = wasmtime.WasiConfig()
    wasi.preopen_dir(str(GUESTS_DIR), "/")
    store.set_wasi(wasi)
    instance = linker.instantiate(store, wasmtime.Module(engine, wat_guest("open_host_files")))
    with pytest.raises(wasmtime.ExitTrap) as exited:
        instance.exports(store)["_start"](store)  # type: ignore[operator]
    assert exited.value.code > 0


def test_sleep_in_host_call_is_cut_at_the_wall_clock(executor: Executor) -> None:
    result = executor.execute(
        ExecutionJob(
            wat_guest("sleep_in_host_call"), limits=RequestedLimits(max_execution_seconds=1)
        )
    )
    assert result.error is not None
    assert result.error.type is ExecutionErrorType.TIMEOUT
    # The guest asked for 30 s; it was stopped at its 1 s limit with its usage collected.
    assert 1000 <= result.resources_used.time_ms < 30_000
    assert result.resources_used.instructions > 0


def test_short_sleep_completes(executor: Executor) -> None:
    result = executor.execute(ExecutionJob(wat_guest("sleep_in_host_call"), input=bytes([2])))
    assert result.ok, result
    assert result.resources_used.time_ms >= 200


def test_non_zero_exit_reports_the_code(executor: Executor) -> None:
    result = executor.execute(ExecutionJob(wat_guest("exit_nonzero")))
    assert result.error is not None
    assert result.error.type is ExecutionErrorType.EXIT_CODE
    assert result.exit_code == 3
    assert "code 3" in result.error.message


@pytest.mark.parametrize(
    ("name", "named"),
    [
        ("unknown_import", "env::read_host_secret"),
        ("unknown_wasi_function", "sock_connect_anywhere"),
    ],
)
def test_unknown_imports_fail_to_link(executor: Executor, name: str, named: str) -> None:
    result = executor.execute(ExecutionJob(wat_guest(name)))
    assert result.error is not None
    assert result.error.type is ExecutionErrorType.LINK_ERROR
    assert named in result.error.message
    assert result.resources_used.instructions == 0


def test_bytes_that_are_not_wasm(executor: Executor) -> None:
    result = executor.execute(ExecutionJob((GUESTS_DIR / "not_wasm.bin").read_bytes()))
    assert result.error is not None
    assert result.error.type is ExecutionErrorType.INVALID_WASM
    assert "\\0asm" in result.error.message


def test_truncated_wasm_is_invalid(executor: Executor) -> None:
    result = executor.execute(ExecutionJob(wat_guest("hello")[:-5]))
    assert result.error is not None
    assert result.error.type is ExecutionErrorType.INVALID_WASM


def test_module_without_start_is_invalid(executor: Executor) -> None:
    wasm = bytes(wasmtime.wat2wasm('(module (func (export "main")))'))
    result = executor.execute(ExecutionJob(wasm))
    assert result.error is not None
    assert result.error.type is ExecutionErrorType.INVALID_WASM
    assert "_start" in result.error.message


def test_output_that_is_not_json_is_invalid_output(executor: Executor) -> None:
    result = executor.execute(ExecutionJob(wat_guest("hello"), response_format=ResponseFormat.JSON))
    assert result.error is not None
    assert result.error.type is ExecutionErrorType.INVALID_OUTPUT
    assert "not valid JSON" in result.error.message
    assert result.resources_used.instructions > 0


def test_bytes_format_is_base64(executor: Executor) -> None:
    result = executor.execute(
        ExecutionJob(wat_guest("hello"), response_format=ResponseFormat.BYTES)
    )
    assert result.ok
    assert base64.b64decode(result.output) == b"hello\n"


@pytest.mark.parametrize(
    ("attached", "refunded"), [("5000000", 3_000_000), ("1000000", 1_000_000), (None, 0)]
)
def test_refund_usd_is_reported_and_capped_at_what_was_attached(
    executor: Executor, attached: str | None, refunded: int
) -> None:
    env = {} if attached is None else {"ATTACHED_USD": attached}
    result = executor.execute(ExecutionJob(wat_guest("refund_usd"), env=env))
    assert result.ok, result
    assert result.refund_usd == refunded
    assert result.to_json()["refund_usd"] == str(refunded)


def test_only_the_platforms_own_functions_link(executor: Executor) -> None:
    result = executor.execute(ExecutionJob(wat_guest("unknown_platform_function")))
    assert result.error is not None
    assert result.error.type is ExecutionErrorType.LINK_ERROR
    assert "outlayer::mint_money" in result.error.message
