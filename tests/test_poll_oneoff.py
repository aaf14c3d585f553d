"""poll_oneoff with hostile arguments: the guest gets an errno, never a platform failure."""

from __future__ import annotations

import pytest
import wasmtime

from outlayer.errors import ExecutionErrorType
from outlayer.limits import ResourceLimits
from services.executor import ExecutionJob, Executor, _sandbox
from services.executor._sandbox import SandboxJob, compile_module, make_engine, run_job
from services.executor._wasi_poll import ERRNO_FAULT, ERRNO_INVAL

POLL_GUEST = """
(module
  (import "wasi_snapshot_preview1" "poll_oneoff"
    (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (call $exit (call $poll (i32.const IN) (i32.const OUT) (i32.const COUNT) (i32.const 0)))))
"""


def _poll_guest(count: int, in_ptr: int = 0, out_ptr: int = 0) -> bytes:
    wat = POLL_GUEST.replace("COUNT", str(count)).replace("IN", str(in_ptr))
    return bytes(wasmtime.wat2wasm(wat.replace("OUT", str(out_ptr))))


@pytest.mark.parametrize(
    ("count", "in_ptr", "out_ptr", "errno"),
    [
        (2_147_483_647, 0, 0, ERRNO_INVAL),  # the largest i32
        (-1, 0, 0, ERRNO_INVAL),  # 4294967295 as WASI reads it
        (1_000_000, 0, 0, ERRNO_INVAL),
        (0, 0, 0, ERRNO_INVAL),
        (1000, 40_000, 0, ERRNO_FAULT),  # subscriptions past the end of memory
        (1, 0, 65_530, ERRNO_FAULT),  # events past the end of memory
        (1, -16, 0, ERRNO_FAULT),  # a pointer near 4 GiB
    ],
)
def test_bad_poll_arguments_are_an_errno_the_guest_sees(
    executor: Executor, count: int, in_ptr: int, out_ptr: int, errno: int
) -> None:
    result = executor.execute(ExecutionJob(_poll_guest(count, in_ptr, out_ptr)))
    assert result.error is not None
    assert result.error.type is ExecutionErrorType.EXIT_CODE, result
    assert result.exit_code == errno


def test_a_host_function_bug_is_a_worker_failure_without_internal_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken_poll(*_args: object) -> object:
        def poll(*_a: object) -> int:
            raise RuntimeError("internal detail /srv/outlayer/secret.py line 7")

        return poll

    monkeypatch.setattr(_sandbox, "make_poll_oneoff", broken_poll)
    engine = make_engine()
    limits = ResourceLimits(max_instructions=10**6, max_memory_mb=16, max_execution_seconds=5)
    job = SandboxJob(b"", {}, limits, max_output_bytes=1024, max_log_bytes=1024)
    outcome = run_job(engine, compile_module(engine, _poll_guest(1)), job)
    assert outcome.error_type is ExecutionErrorType.WORKER_FAILURE
    assert "internal detail" not in outcome.error_message
    assert "not charged" in outcome.error_message
    assert "internal detail" in outcome.hidden_log  # kept for the operator
