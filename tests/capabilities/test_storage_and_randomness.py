"""Guests' storage and randomness through the real host-call path: a WAT guest calls the
``outlayer`` functions, in a forked worker (the pool) and in process, against the local
services ``outlayer run`` uses (a SQLite store, a development VRF key)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from outlayer import vrf
from outlayer.config import Settings
from outlayer.errors import ExecutionErrorType
from outlayer.limits import RequestedLimits
from outlayer.result import ExecutionResult, ResponseFormat
from services.executor._guest_abi import CALL_FUEL, EXPECT_ABSENT, PER_CALLER, HostStatus
from services.executor.capabilities import GuestServices
from services.executor.capabilities.local import local_services
from services.executor.executor import ExecutionJob, Executor
from tests.capabilities.abi_guest import AbiGuest, Record, records


@pytest.fixture(params=["isolated", "in-process"], scope="module")
def executor(request: pytest.FixtureRequest, settings: Settings) -> Iterator[Executor]:
    with Executor(settings, isolated=request.param == "isolated", prestart=False) as made:
        yield made


def run(
    executor: Executor,
    guest: AbiGuest,
    services: GuestServices | None,
    limits: RequestedLimits | None = None,
) -> tuple[list[Record], ExecutionResult]:
    job = ExecutionJob(wasm=guest.wasm(), response_format=ResponseFormat.BYTES,
                       services=services, limits=limits or RequestedLimits())  # fmt: skip
    result = executor.execute(job)
    assert result.ok, result.to_json()
    return records(result.output), result


def local(
    settings: Settings, data_dir: Path, store: str = "module:test", caller: str = "alice.near"
) -> GuestServices:
    return local_services(settings, b"", data_dir=data_dir, store=store, caller=caller,
                          origin_key="https:call-1")  # fmt: skip


def test_values_persist_across_runs_and_spaces_stay_apart(
    executor: Executor, settings: Settings, tmp_path: Path
) -> None:
    writer = (AbiGuest().call("storage_set", b"greeting", b"hello", 0)
              .call("storage_set", b"greeting", b"mine", PER_CALLER))  # fmt: skip
    assert [r.status for r in run(executor, writer, local(settings, tmp_path))[0]] == [0, 0]
    reader = (AbiGuest().call("storage_get", b"greeting", 0)
              .call("storage_get", b"greeting", PER_CALLER)
              .call("storage_get", b"absent", 0))  # fmt: skip
    got, result = run(executor, reader, local(settings, tmp_path))
    assert got[0] == Record(5, b"hello")
    assert got[1] == Record(4, b"mine")
    assert got[2].status == HostStatus.NOT_FOUND and b"absent" in got[2].answer
    assert result.resources_used.capabilities == {
        "host_calls": 3, "storage_reads": 3, "storage_bytes": 9,
    }  # fmt: skip
    # Another caller shares the project's space but not alice's own.
    got, _ = run(executor, reader, local(settings, tmp_path, caller="bob.near"))
    assert got[0] == Record(5, b"hello") and got[1].status == HostStatus.NOT_FOUND
    # Another store sees none of it.
    got, _ = run(executor, reader, local(settings, tmp_path, store="module:other"))
    assert got[0].status == HostStatus.NOT_FOUND


def test_swap_increment_delete_and_list(
    executor: Executor, settings: Settings, tmp_path: Path
) -> None:
    guest = (AbiGuest()
             .call("storage_swap", b"lock", b"", b"taken", EXPECT_ABSENT)
             .call("storage_swap", b"lock", b"", b"again", EXPECT_ABSENT)
             .call("storage_swap", b"lock", b"wrong", b"x", 0)
             .call("storage_swap", b"lock", b"taken", b"released", 0)
             .call("storage_increment", b"visits", 5, 0)
             .call("storage_increment", b"visits", -7, 0)
             .call("storage_increment", b"lock", 1, 0)
             .call("storage_list", b"", b"", 0)
             .call("storage_list", b"vis", b"", 0)
             .call("storage_delete", b"lock", 0)
             .call("storage_delete", b"lock", 0)
             .call("storage_get", b"lock", 0))  # fmt: skip
    got, _ = run(executor, guest, local(settings, tmp_path))
    assert [r.status for r in got[:4]] == [1, 0, 0, 1]
    assert got[4] == Record(1, b"5") and got[5] == Record(2, b"-2")
    assert got[6].status == HostStatus.INVALID and b"no decimal counter" in got[6].answer
    assert json.loads(got[7].answer) == {"keys": ["lock", "visits"], "next_cursor": ""}
    assert json.loads(got[8].answer) == {"keys": ["visits"], "next_cursor": ""}
    assert [r.status for r in got[9:]] == [1, 0, HostStatus.NOT_FOUND]


def test_bad_arguments_are_invalid_not_a_crash(
    executor: Executor, settings: Settings, tmp_path: Path
) -> None:
    guest = (AbiGuest()
             .raw("(call $record (call $storage_get (i32.const 999999999) (i32.const 4)"
                  " (i32.const 0)))")
             .raw("(call $record (call $storage_get (i32.const 0) (i32.const -1) (i32.const 0)))")
             .call("storage_get", b"\xff\xfe", 0)
             .call("storage_set", b"", b"v", 0)
             .call("storage_set", b"k" * 513, b"v", 0)
             .call("storage_set", b"big", b"v" * 70_000, 0)
             .call("random", b"s" * 1025))  # fmt: skip
    got, _ = run(executor, guest, local(settings, tmp_path))
    assert [r.status for r in got] == [HostStatus.INVALID] * 5 + [
        HostStatus.QUOTA,
        HostStatus.INVALID,
    ]
    assert b"outside the guest's memory" in got[0].answer
    assert b"not UTF-8" in got[2].answer
    assert b"1 to 512 bytes" in got[3].answer and b"1 to 512 bytes" in got[4].answer
    assert b"at most" in got[5].answer


def test_randomness_is_a_proof_anyone_can_check(
    executor: Executor, settings: Settings, tmp_path: Path
) -> None:
    guest = AbiGuest().call("random", b"round-1").call("random", b"round-1").call("random", b"2")
    got, result = run(executor, guest, local(settings, tmp_path))
    first, again, other = (json.loads(r.answer) for r in got)
    assert first == again and first["output"] != other["output"]
    assert first["origin"] == "https:call-1" and first["prover"] == "local development key"
    alpha = vrf.alpha_for("https:call-1", b"round-1")
    output = vrf.verify(bytes.fromhex(first["public_key"]), alpha, bytes.fromhex(first["proof"]))
    assert output.hex() == first["output"]
    with pytest.raises(vrf.InvalidProof):
        vrf.verify(bytes.fromhex(first["public_key"]), vrf.alpha_for("https:call-2", b"round-1"),
                   bytes.fromhex(first["proof"]))  # fmt: skip
    assert result.resources_used.capabilities["random_calls"] == 3


def test_without_services_every_capability_is_off(executor: Executor) -> None:
    guest = AbiGuest().call("storage_get", b"k", 0).call("random", b"").call("near_block")
    got, result = run(executor, guest, None)
    assert [r.status for r in got] == [HostStatus.NOT_ENABLED] * 3
    assert b"not available" in got[0].answer
    assert result.resources_used.capabilities == {}


def test_chain_reads_and_fetch_are_off_with_a_reason(
    executor: Executor, settings: Settings, tmp_path: Path
) -> None:
    guest = AbiGuest().call("near_block").call("fetch", b"{}")
    got, _ = run(executor, guest, local(settings, tmp_path))
    assert [r.status for r in got] == [HostStatus.NOT_ENABLED] * 2
    assert b"executor.guest.chain_rpc" in got[0].answer
    assert b"outlayer.fetch" in got[1].answer


def test_per_run_caps_are_counted_by_the_executor(
    executor: Executor, settings: Settings, tmp_path: Path
) -> None:
    capped = settings.model_copy(update={"executor": settings.executor.model_copy(update={
        "guest": settings.executor.guest.model_copy(update={
            "max_host_calls": 3, "random_max_calls": 1,
            "storage_max_bytes_per_run": 10})})})  # fmt: skip
    with Executor(capped, isolated=False, prestart=False) as small:
        guest = (AbiGuest().call("random", b"a").call("random", b"b")
                 .call("storage_set", b"k", b"0123456789A", 0)
                 .call("storage_get", b"k", 0))  # fmt: skip
        got, result = run(small, guest, local(capped, tmp_path))
    assert got[0].status >= 0
    assert got[1].status == HostStatus.LIMIT and b"at most 1 randomness" in got[1].answer
    assert got[2].status == HostStatus.LIMIT and b"bytes of storage" in got[2].answer
    assert got[3].status == HostStatus.LIMIT and b"at most 3 host calls" in got[3].answer
    assert result.resources_used.capabilities["host_calls"] == 4


def test_host_calls_are_paid_in_instructions(
    executor: Executor, settings: Settings, tmp_path: Path
) -> None:
    one = AbiGuest().call("storage_get", b"k", 0)
    many = AbiGuest()
    for _ in range(10):
        many.call("storage_get", b"k", 0)
    _, once = run(executor, one, local(settings, tmp_path))
    _, ten = run(executor, many, local(settings, tmp_path))
    extra = ten.resources_used.instructions - once.resources_used.instructions
    assert extra >= 9 * CALL_FUEL
    # A guest whose limit its host calls exhaust stops with instruction_limit.
    job = ExecutionJob(wasm=many.wasm(), services=local(settings, tmp_path),
                       limits=RequestedLimits(max_instructions=3 * CALL_FUEL))  # fmt: skip
    result = executor.execute(job)
    assert result.error is not None
    assert result.error.type is ExecutionErrorType.INSTRUCTION_LIMIT


def test_values_are_sealed_at_rest(executor: Executor, settings: Settings, tmp_path: Path) -> None:
    run(executor, AbiGuest().call("storage_set", b"secret", b"plain words", 0),
        local(settings, tmp_path))  # fmt: skip
    # The database and its write-ahead log: wherever the row is, it is sealed.
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("storage.sqlite3*"))
    assert b"secret" in stored and b"plain words" not in stored


def test_a_malformed_request_from_a_worker_is_refused_not_served(
    settings: Settings, tmp_path: Path
) -> None:
    """The executor does not trust what a worker sends: a request a taken-over sandbox could
    forge (missing or mistyped fields, an unknown op) is refused and counted."""
    from services.executor.capabilities import HostCalls

    host = HostCalls(local(settings, tmp_path), settings.executor.guest)
    forged_requests: list[dict[str, Any]] = [
        {"op": "storage.get"},
        {"op": "storage.set", "key": "k", "value": 3, "per_caller": False},
        {"op": "random", "seed": None},
        {"op": "storage.drop_all"},
        {},
    ]
    refusals = (HostStatus.INVALID, HostStatus.NOT_ENABLED)
    for forged in forged_requests:
        answer = host.answer(forged, timeout=5)
        assert answer["ok"] is False and answer["status"] in refusals, forged
    assert (
        host.answer({"op": "storage.get", "key": "k", "per_caller": False}, timeout=0)["status"]
        == HostStatus.LIMIT
    )  # no time left in the run
