"""Guests built from C (clang + wasi-libc) and Rust (std only): stdin, env and JSON output."""

from __future__ import annotations

import pytest

from outlayer.result import ResponseFormat
from services.executor import ExecutionJob, Executor
from tests.conftest import built_guest


@pytest.mark.parametrize(("guest", "language"), [("echo_json_c", "c"), ("echo_json_rust", "rust")])
def test_guest_reads_stdin_and_env_and_prints_json(
    executor: Executor, guest: str, language: str
) -> None:
    job = ExecutionJob(
        built_guest(guest),
        input=b'{"name": "NEAR", "quote": "\\"hi\\""}',
        env={"GREETING": "gm ☀"},
        response_format=ResponseFormat.JSON,
    )
    result = executor.execute(job)
    assert result.ok, result
    assert result.output["language"] == language
    assert result.output["greeting"] == "gm ☀"
    assert result.output["input"] == '{"name": "NEAR", "quote": "\\"hi\\""}'
    assert result.output["input_bytes"] == len(job.input)
    assert "read" in result.logs
    assert result.exit_code == 0
    assert result.resources_used.instructions > 1000
    assert result.resources_used.memory_bytes > 0


def test_guest_sees_only_the_jobs_environment(executor: Executor) -> None:
    result = executor.execute(
        ExecutionJob(
            built_guest("echo_json_rust"),
            env={"NEAR_SENDER_ID": "alice.near", "A": "1"},
            response_format=ResponseFormat.JSON,
        )
    )
    assert result.ok, result
    # No PATH, HOME or anything else of the host's: exactly what the job gave.
    assert result.output["env_names"] == ["A", "NEAR_SENDER_ID"]


def test_rust_guest_with_no_input(executor: Executor) -> None:
    result = executor.execute(
        ExecutionJob(built_guest("echo_json_rust"), response_format=ResponseFormat.JSON)
    )
    assert result.ok, result
    assert result.output["input"] == ""
    assert result.output["greeting"] == "hello"


def test_cpu_bound_guest_matches_native_answer(executor: Executor) -> None:
    result = executor.execute(
        ExecutionJob(built_guest("cpu_bound"), input=b"20000", response_format=ResponseFormat.JSON)
    )
    assert result.ok, result
    assert result.output["primes"] == 2262  # π(20000)
