"""Compilation on chain (issue 10 part 3): a compilation_in_progress result carries structured
fields to the caller, and a build the request caused is charged by its CPU time, capped."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contract.conftest import ALICE, OWNER, SMALL, Net, event

IN_PROGRESS = {"type": "compilation_in_progress", "message": "building; ask again in 40 s"}
COMPILATION = {"estimated_seconds": 40, "retry_after_blocks": 40, "cache_key": "ab" * 32}


def estimate(net: Net, **extra: Any) -> int:
    return int(net.view("estimate_execution_cost", {"resource_limits": SMALL, **extra}))


def test_compilation_in_progress_reaches_the_caller_as_fields(net: Net) -> None:
    request = net.request()
    request_id = event(request, "execution_requested")["request_id"]
    resolved = net.resolve(
        request_id, success=False, output=None, error=IN_PROGRESS, compilation=COMPILATION
    )
    assert resolved.success, resolved.failure
    outcome = net.ln.result(request.tx_hash).json()
    assert outcome["status"] == "failed" and outcome["error"] == IN_PROGRESS
    assert outcome["compilation"] == COMPILATION
    assert "compilation_note" not in outcome


def test_a_compilation_without_a_cache_key_is_accepted(net: Net) -> None:
    request = net.request()
    request_id = event(request, "execution_requested")["request_id"]
    unnamed = {**COMPILATION, "cache_key": ""}
    assert net.resolve(
        request_id, success=False, output=None, error=IN_PROGRESS, compilation=unnamed
    ).success
    assert net.ln.result(request.tx_hash).json()["compilation"] == unnamed


def test_other_results_carry_no_compilation(net: Net) -> None:
    request = net.request()
    request_id = event(request, "execution_requested")["request_id"]
    assert net.resolve(request_id).success
    assert net.ln.result(request.tx_hash).json()["compilation"] is None


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"compilation": COMPILATION}, "only with an error of type compilation_in_progress"),
        (
            {"error": {"type": "runtime_error", "message": "x"}, "compilation": COMPILATION},
            "only with an error of type compilation_in_progress",
        ),
        ({"error": IN_PROGRESS, "compilation": "soon"}, "compilation must be an object"),
        (
            {"error": IN_PROGRESS, "compilation": {**COMPILATION, "estimated_seconds": "40"}},
            "compilation.estimated_seconds",
        ),
        (
            {"error": IN_PROGRESS, "compilation": {**COMPILATION, "retry_after_blocks": -1}},
            "compilation.retry_after_blocks",
        ),
        (
            {"error": IN_PROGRESS, "compilation": {**COMPILATION, "cache_key": "k" * 257}},
            "compilation.cache_key is longer than 256 bytes",
        ),
        (
            {"error": IN_PROGRESS, "compilation": {**COMPILATION, "cache_key": 7}},
            "compilation.cache_key must be a string",
        ),
    ],
)
def test_malformed_compilation_fields_are_refused(
    net: Net, fields: dict[str, Any], message: str
) -> None:
    request_id = event(net.request(), "execution_requested")["request_id"]
    refused = net.resolve(request_id, success=False, output=None, **fields)
    assert not refused.success and message in (refused.failure or ""), refused.failure


def test_the_estimate_adds_the_worst_case_compile_fee_when_asked(net: Net) -> None:
    pricing = net.view("get_pricing")
    worst = int(pricing["max_compile_ms"]) * int(pricing["per_compile_ms"])
    assert worst == 300_000 * 10**18  # the defaults
    assert estimate(net, include_compilation=True) == estimate(net) + worst
    assert estimate(net, include_compilation=False) == estimate(net)


def charge(net: Net, deposit: int, compile_ms: int) -> tuple[int, dict[str, Any]]:
    before = net.ln.balance(ALICE)
    request = net.request(deposit=deposit)
    request_id = event(request, "execution_requested")["request_id"]
    used = {"instructions": 100, "time_ms": 2, "compile_ms": compile_ms}
    assert net.resolve(request_id, resources_used=used).success
    return before - net.ln.balance(ALICE), net.ln.result(request.tx_hash).json()


def test_the_compile_time_is_charged_with_the_execution(net: Net) -> None:
    pricing = net.view("get_pricing")
    execution = (
        int(pricing["base_fee"])
        + 100 * int(pricing["per_instruction"])
        + 2 * int(pricing["per_ms"])
    )
    paid, outcome = charge(net, estimate(net, include_compilation=True), 1_500)
    assert paid == execution + 1_500 * int(pricing["per_compile_ms"])
    assert outcome["resources_used"] == {"instructions": 100, "time_ms": 2, "compile_ms": 1_500}
    assert outcome["charged"] == str(paid)
    paid, _ = charge(net, estimate(net, include_compilation=True), 10**9)  # capped
    assert paid == execution + int(pricing["max_compile_ms"]) * int(pricing["per_compile_ms"])


def test_the_compile_fee_never_takes_more_than_the_deposit(net: Net) -> None:
    deposit = estimate(net)  # enough for the limits, not for a long build
    paid, outcome = charge(net, deposit, 200_000)
    assert paid == deposit and outcome["charged"] == str(deposit)


def test_compile_pricing_is_settable_and_fixed_at_request_time(net: Net) -> None:
    prices = {"base_fee": "5", "per_instruction": "2", "per_ms": "3"}
    assert net.call(OWNER, "set_pricing", {**prices, "per_compile_ms": "7",
                                           "max_compile_ms": "1000"}).success  # fmt: skip
    assert net.view("get_pricing") == {**prices, "per_compile_ms": "7", "max_compile_ms": "1000"}
    request = net.request(deposit=estimate(net, include_compilation=True))
    request_id = event(request, "execution_requested")["request_id"]
    assert net.call(OWNER, "set_pricing", {**prices, "per_compile_ms": "70"}).success
    before = net.ln.balance(OWNER)
    used = {"instructions": 1, "time_ms": 1, "compile_ms": 5_000}
    assert net.resolve(request_id, resources_used=used).success
    assert net.ln.balance(OWNER) - before == 5 + 2 + 3 + 1_000 * 7
    assert net.view("get_pricing")["max_compile_ms"] == "1000"  # kept when omitted
