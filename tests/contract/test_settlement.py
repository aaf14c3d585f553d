"""Settlement on localnet (issue 17): every accepted result is delivered, a failed callback still
settles, cancel and resolve exclude each other, charges are capped by the limits at the prices
of the request's own time, a request pays for its storage, and oversized or over-nested
arguments are refused by the contract itself."""

from __future__ import annotations

import json
from typing import Any

import pytest

from localnet.node import NEAR
from localnet.vm import CallContext, CallOutcome, StateView
from tests.conftest import built_contract
from tests.contract.conftest import (
    ALICE,
    OUTLAYER,
    OWNER,
    SMALL,
    STAKE,
    STORAGE_PRICE,
    WORKER,
    Net,
    event,
)

TGAS = 10**12
CALLBACK_GAS = 60 * TGAS  # what request_execution gives the yield's callback
GRACE_BLOCKS = 200  # after this, a stored output its callback never took is freed


def fee(pricing: dict[str, str], instructions: int, ms: int, compile_ms: int = 0) -> int:
    compile_ms = min(compile_ms, int(pricing["max_compile_ms"]))
    return (
        int(pricing["base_fee"])
        + instructions * int(pricing["per_instruction"])
        + ms * int(pricing["per_ms"])
        + compile_ms * int(pricing["per_compile_ms"])
    )


def usage(net: Net) -> int:
    return net.ln.chain.storage_usage(net.ln.chain.account(OUTLAYER))


def callback_gas(net: Net, tx_hash: bytes) -> int:
    final = net.ln.chain.final_outcome(tx_hash)
    assert final is not None
    return final.gas_burnt


def many_keys(count: int) -> dict[str, int]:
    return {str(i): 0 for i in range(count)}


def nested(depth: int) -> Any:
    value: Any = 0
    for _ in range(depth - 1):
        value = [value]
    return [value] if depth else value


# --- 1. every accepted output is delivered; a failed callback still settles -----------------
@pytest.mark.parametrize(
    "output",
    [
        pytest.param(many_keys(1_300), id="1300-keys"),  # ~14.5 KB: its callback ran out of gas
        pytest.param(many_keys(1_480), id="1480-keys"),
        pytest.param([0] * 5_400, id="5400-items"),
        pytest.param(nested(64), id="64-deep"),
        pytest.param("€" * 5_460, id="5460-euros"),  # 16,382 bytes as JSON
        pytest.param("\\" * 8_190, id="escapes"),  # every character escaped: 16,382 bytes
        pytest.param([{"a": [1, {"b": "c" * 10}]}] * 490, id="mixed"),
    ],
)
def test_every_output_resolve_accepts_is_delivered_well_within_the_callbacks_gas(
    net: Net, output: Any
) -> None:
    assert len(json.dumps(output, ensure_ascii=False).encode()) <= 16 * 1024
    request = net.request()
    request_id = event(request, "execution_requested")["request_id"]
    resolved = net.resolve(request_id, output=output)
    assert resolved.success, resolved.failure
    assert resolved.gas_burnt < 250 * TGAS  # the worker's call, with room to spare
    final = net.ln.result(request.tx_hash)
    assert final.success, final.failure
    assert final.json()["output"] == output
    # The callback only hands over the stored text: its cost does not depend on the shape.
    assert callback_gas(net, request.tx_hash) < CALLBACK_GAS // 4
    assert net.storage_keys(b"out:") == [] and net.storage_keys(b"req:") == []


def fail_callbacks(monkeypatch: pytest.MonkeyPatch, net: Net) -> None:
    """Fault injection: every on_execution_response fails as if it ran out of gas."""
    vm = net.ln.chain.vm
    real = vm.call

    def call(code: bytes, method: str, ctx: CallContext, state: StateView) -> CallOutcome:
        if method == "on_execution_response":
            return CallOutcome(ok=False, error="GasExceeded: injected by the test")
        return real(code, method, ctx, state)

    monkeypatch.setattr(vm, "call", call)


def test_a_failed_callback_still_settles_and_its_output_is_freed(
    net: Net, monkeypatch: pytest.MonkeyPatch
) -> None:
    balances = {a: net.ln.balance(a) for a in (ALICE, OWNER, OUTLAYER)}
    usage_before = usage(net)
    fail_callbacks(monkeypatch, net)
    request = net.request(deposit=net.cost() * 2)
    request_id = event(request, "execution_requested")["request_id"]
    used = {"instructions": 5_000, "time_ms": 9}
    assert net.resolve(request_id, output=many_keys(1_300), resources_used=used).success
    assert not net.ln.result(request.tx_hash).success  # the caller's callback failed
    charged = fee(net.view("get_pricing"), 5_000, 9)
    assert balances[ALICE] - net.ln.balance(ALICE) == charged  # refunded all but the fee
    assert net.ln.balance(OWNER) - balances[OWNER] == charged
    assert net.view("get_stats")["completed"] == 1
    assert net.view("get_request", {"request_id": request_id}) is None
    assert not net.call(ALICE, "cancel_stale_execution", {"request_id": request_id}).success
    assert not net.resolve(request_id).success
    assert len(net.storage_keys(b"out:")) == 1  # the output its callback never took
    monkeypatch.undo()
    for _ in range(GRACE_BLOCKS + 1):
        net.ln.chain.produce_block()
    later = event(net.request(), "execution_requested")["request_id"]
    assert net.resolve(later).success  # a later resolve frees the stale output
    assert net.storage_keys(b"out:") == [] and net.storage_keys(b"outq") == []
    assert usage(net) - usage_before < 100  # only the counters grew
    assert net.ln.balance(OUTLAYER) == balances[OUTLAYER]  # holds nobody's money


def test_a_stored_output_is_kept_until_its_callback_takes_it(net: Net) -> None:
    """Resolves in one block, callbacks in the next: the sweep frees only stale outputs."""
    requests = [net.request() for _ in range(3)]
    ids = [event(r, "execution_requested")["request_id"] for r in requests]
    for request_id in ids:
        net.ln.call(WORKER, OUTLAYER, "resolve_execution", {
            "request_id": request_id, "success": True, "output": "x" * 5_000,
        }, wait=False)  # fmt: skip
    net.ln.chain.run_until_idle()
    for request in requests:
        assert net.ln.result(request.tx_hash).json()["output"] == "x" * 5_000
    assert net.storage_keys(b"out:") == []


# --- 2. cancel and resolve exclude each other ------------------------------------------------
@pytest.mark.parametrize("first", ["resolve", "cancel"])
def test_cancel_and_resolve_in_one_block_settle_the_request_once(net: Net, first: str) -> None:
    request = net.request(deposit=net.cost() * 2)
    request_id = event(request, "execution_requested")["request_id"]
    net.ln.chain.advance_time(600)
    net.ln.chain.produce_block()
    owner_before = net.ln.balance(OWNER)
    calls = {
        "resolve": lambda: net.ln.call(WORKER, OUTLAYER, "resolve_execution", {
            "request_id": request_id, "success": True, "output": "x" * 3_000,
            "resources_used": {"instructions": 1000, "time_ms": 3},
        }, wait=False),
        "cancel": lambda: net.ln.call(
            ALICE, OUTLAYER, "cancel_stale_execution", {"request_id": request_id}, wait=False
        ),
    }  # fmt: skip
    order = [first, "cancel" if first == "resolve" else "resolve"]
    sent = {name: calls[name]() for name in order}  # both in the same block
    net.ln.chain.run_until_idle()
    results = {name: net.ln.result(tx.tx_hash) for name, tx in sent.items()}
    assert results[first].success and not results[order[1]].success
    pricing = net.view("get_pricing")
    expected = fee(pricing, 1000, 3) if first == "resolve" else int(pricing["base_fee"])
    assert net.ln.balance(OWNER) - owner_before == expected
    stats = net.view("get_stats")
    assert stats["completed"] + stats["cancelled"] == 1
    assert net.storage_keys(b"out:") == [] and net.storage_keys(b"req:") == []


# --- 5. the contract's own messages for sizes and nesting ------------------------------------
@pytest.mark.parametrize(
    ("input_data", "message"),
    [
        ("a" * (12 * 1024 + 1), "12289 bytes (UTF-8); a request carries at most 12288"),
        ("a" * 16_000, "16000 bytes (UTF-8)"),  # the event log used to exceed NEAR's limit
        ("€" * 4_100, "12300 bytes (UTF-8)"),  # 4,100 characters, but 12,300 bytes
        ("\x01" * 3_000, "control characters take 6 bytes each"),
    ],
)
def test_oversized_input_is_refused_with_the_contracts_message(
    net: Net, input_data: str, message: str
) -> None:
    before = net.ln.balance(ALICE)
    result = net.request({"input_data": input_data}, deposit=net.cost() * 100)
    assert not result.success
    assert "OutLayer: " in (result.failure or "") and message in (result.failure or "")
    assert net.ln.balance(ALICE) == before


def test_the_largest_input_is_accepted_logged_and_paid_for(net: Net) -> None:
    input_data = "a" * (12 * 1024)
    cost = int(net.view("estimate_execution_cost", {
        "resource_limits": SMALL, "input_data": input_data}))  # fmt: skip
    assert not net.request({"input_data": input_data}, deposit=cost - 1).success
    request = net.request({"input_data": input_data}, deposit=cost)
    assert event(request, "execution_requested")["input_data"] == input_data


@pytest.mark.parametrize(
    ("output", "message"),
    [
        ("[" * 5_000 + "]" * 5_000, "nested more than 64 levels deep"),  # used to blow the stack
        (json.dumps(nested(65)), "nested more than 64 levels deep"),
        (json.dumps("€" * 16_000), "48002 bytes as JSON, larger than 16 KiB"),
        (json.dumps("€" * 5_462), "16388 bytes as JSON"),  # under 16 KiB in characters only
        (json.dumps("x" * (16 * 1024 + 1)), "larger than 16 KiB"),
    ],
)
def test_oversized_or_overnested_output_is_refused_and_the_request_stays_open(
    net: Net, output: str, message: str
) -> None:
    request = net.request()
    request_id = event(request, "execution_requested")["request_id"]
    raw = f'{{"request_id": {request_id}, "success": true, "output": {output}}}'.encode()
    refused = net.call(WORKER, "resolve_execution", raw)
    assert not refused.success
    assert "OutLayer: " in (refused.failure or "") and message in (refused.failure or "")
    error = {"type": "output_limit", "message": "output too large"}
    assert net.resolve(request_id, success=False, output=None, error=error).success
    assert net.ln.result(request.tx_hash).json()["error"] == error


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"success": "yes"}, "success must be true or false"),
        ({"resources_used": {"instructions": -1}}, "resources_used.instructions"),
        ({"resources_used": {"time_ms": "5"}}, "resources_used.time_ms"),
        ({"resources_used": {"compile_ms": 2**64}}, "resources_used.compile_ms"),
        ({"error": "boom"}, "error must be"),
        ({"error": {"type": "t" * 65}}, "error.type is longer than 64 bytes"),
        ({"refund_usd": str(2**128)}, "refund_usd must be below 2^128"),
    ],
)
def test_malformed_results_are_refused(net: Net, fields: dict[str, Any], message: str) -> None:
    request_id = event(net.request(), "execution_requested")["request_id"]
    refused = net.resolve(request_id, **fields)
    assert not refused.success and message in (refused.failure or ""), refused.failure
    assert net.resolve(request_id).success  # the request is still open


def test_a_long_error_message_is_kept_to_1000_characters(net: Net) -> None:
    request = net.request()
    request_id = event(request, "execution_requested")["request_id"]
    error = {"type": "runtime_error", "message": "é" * 5_000}
    assert net.resolve(request_id, success=False, output=None, error=error).success
    delivered = net.ln.result(request.tx_hash).json()["error"]
    assert delivered == {"type": "runtime_error", "message": "é" * 1_000}


# --- 6. and 7. the charge: usage capped by the limits, at the prices of the request's time ----
@pytest.mark.parametrize(
    ("used", "charged_as"),
    [
        ({"instructions": 10**12, "time_ms": 3}, (1_000_000, 3)),  # instructions capped
        ({"instructions": 7, "time_ms": 10**9}, (7, 5_000)),  # time capped
        ({"instructions": 7, "time_ms": 3}, (7, 3)),
    ],
)
def test_each_dimension_is_capped_by_the_limits_the_caller_accepted(
    net: Net, used: dict[str, int], charged_as: tuple[int, int]
) -> None:
    before = net.ln.balance(ALICE)
    request = net.request(deposit=net.cost() * 3)
    request_id = event(request, "execution_requested")["request_id"]
    assert net.resolve(request_id, resources_used=used).success
    expected = fee(net.view("get_pricing"), *charged_as)
    assert before - net.ln.balance(ALICE) == expected
    outcome = net.ln.result(request.tx_hash).json()
    assert outcome["charged"] == str(expected)
    assert outcome["resources_used"] == {**used, "compile_ms": 0}  # as the worker reported


def test_the_price_is_fixed_when_the_request_is_made(net: Net) -> None:
    old = net.view("get_pricing")
    first_id = event(net.request(deposit=net.cost() * 3), "execution_requested")["request_id"]
    doubled = {k: str(int(v) * 2) for k, v in old.items() if k != "max_compile_ms"}
    assert net.call(OWNER, "set_pricing", doubled).success
    new = net.view("get_pricing")
    assert new == {**doubled, "max_compile_ms": old["max_compile_ms"]}
    used = {"instructions": 1_000, "time_ms": 40, "compile_ms": 10}

    def owner_gain(action: Any) -> int:
        before = net.ln.balance(OWNER)
        assert action().success
        return net.ln.balance(OWNER) - before

    assert owner_gain(lambda: net.resolve(first_id, resources_used=used)) == fee(old, 1_000, 40, 10)
    # A new request pays the new prices; a cancelled open one the base fee of its own time.
    second_id = event(net.request(deposit=net.cost() * 3), "execution_requested")["request_id"]
    third_id = event(net.request(deposit=net.cost() * 3), "execution_requested")["request_id"]
    assert net.call(OWNER, "set_pricing", {k: str(int(v) * 3) for k, v in old.items()}).success
    assert owner_gain(lambda: net.resolve(second_id, resources_used=used)) == fee(
        new, 1_000, 40, 10
    )
    net.ln.chain.advance_time(600)
    net.ln.chain.produce_block()
    cancel = {"request_id": third_id}
    assert owner_gain(lambda: net.call(ALICE, "cancel_stale_execution", cancel)) == int(
        new["base_fee"]
    )


# --- 8. a request pays for its own storage ----------------------------------------------------
@pytest.mark.parametrize("input_data", ["", "hi", "a" * 256, "a" * 5_000, "\x01" * 2_000])
def test_a_request_locks_at_least_the_storage_it_takes(net: Net, input_data: str) -> None:
    cost = int(net.view("estimate_execution_cost", {
        "resource_limits": SMALL, "input_data": input_data}))  # fmt: skip
    usage_before, balance_before = usage(net), net.ln.balance(OUTLAYER)
    request = net.request({"input_data": input_data}, deposit=cost)
    assert event(request, "execution_requested")["payment"] == str(cost)
    took = (usage(net) - usage_before) * STORAGE_PRICE
    held = net.ln.balance(OUTLAYER) - balance_before
    assert took <= held - net.limits_cost()  # the stake alone covers the request's storage


def test_a_deposit_for_the_limits_alone_is_refused_with_what_storage_needs(net: Net) -> None:
    result = net.request(deposit=net.limits_cost())
    assert not result.success
    assert f"attach at least {net.cost()} yoctoNEAR: {net.limits_cost()} for these limits" in (
        result.failure or ""
    )
    assert f"{STAKE} refundable for storing the request" in (result.failure or "")


def test_the_storage_stake_is_refunded_at_settlement(net: Net) -> None:
    before = net.ln.balance(ALICE)
    request = net.request({"input_data": "a" * 10_000}, deposit=net.cost() * 20)
    request_id = event(request, "execution_requested")["request_id"]
    assert net.resolve(request_id, resources_used={"instructions": 10, "time_ms": 1}).success
    assert before - net.ln.balance(ALICE) == fee(net.view("get_pricing"), 10, 1)


def test_the_stake_covers_a_request_with_every_field_at_its_cap(net: Net) -> None:
    """REQUEST_STORAGE_BYTES bounds the record whatever the fields hold (256 bytes of input)."""
    sender = "s" * 59 + ".test"  # NEAR's longest account id: 64 characters
    token = "t" * 59 + ".test"
    dev = "d" * 59 + ".test"
    for account in (sender, token, dev):
        net.ln.create_account(account, 1000 * NEAR)
    assert net.ln.deploy(token, built_contract("test_token")).success
    supply = str(2**128 - 1)
    assert net.ln.call(token, token, "new", {"owner_id": sender, "total_supply": supply}).success
    assert net.call(OWNER, "add_token", {"token_id": token}).success
    deposit = {"receiver_id": OUTLAYER, "amount": supply, "msg": '{"action":"deposit_balance"}'}
    assert net.ln.call(sender, token, "ft_transfer_call", deposit, deposit=1).success
    most = str(2**128 - 1)
    assert net.call(OWNER, "set_pricing", {
        "base_fee": "1", "per_instruction": "1", "per_ms": "1", "per_compile_ms": most,
        "max_compile_ms": most}).success  # fmt: skip
    body = {
        "code_source": {"repo": "https://github.com/" + "o" * 100 + "/" + "r" * 100 + ".git",
                        "branch": "b" * 128, "build_target": "t" * 64},
        "resource_limits": {"max_instructions": 10**11, "max_memory_mb": 1024,
                            "max_execution_seconds": 60},
        "input_data": '"' * 128,  # 256 bytes as JSON
        "secrets_ref": {"profile": "p" * 64, "account_id": "a" * 64, "branch": "b" * 128},
        "response_format": "bytes",
        "attached_usd": most, "usd_token_id": token, "project_owner_id": dev,
    }  # fmt: skip
    # The longest a repository can be: OWNER and REPO at 100 characters each, and ".git".
    assert len(body["code_source"]["repo"]) == 224  # type: ignore[index]
    cost = int(net.view("estimate_execution_cost", {
        "resource_limits": body["resource_limits"], "input_data": body["input_data"]}))  # fmt: skip
    deposit_yocto = 2**128 - 1 - 10**30  # 39 digits, as much as the sender can hold
    assert deposit_yocto >= cost
    net.ln.chain.account(sender).amount = deposit_yocto + NEAR
    request = net.ln.call(sender, OUTLAYER, "request_execution", body, deposit=deposit_yocto)
    assert not request.final, request.failure
    (key,) = net.storage_keys(b"req:")
    took = len(key) + len(net.ln.chain.account(OUTLAYER).storage[key]) + 40
    assert took * STORAGE_PRICE <= STAKE
