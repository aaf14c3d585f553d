"""Requests on localnet with the compiled contract: yield, resolve, settle, time out, cancel."""

from __future__ import annotations

import pytest

from localnet.chain import YIELD_TIMEOUT_BLOCKS
from localnet.node import NEAR
from tests.contract.conftest import (
    ALICE,
    BOB,
    OUTLAYER,
    OWNER,
    SMALL,
    SOURCE,
    STAKE,
    WORKER,
    Net,
    event,
)


def test_request_event_resolve_and_the_caller_gets_the_output(net: Net) -> None:
    before = {a: net.ln.balance(a) for a in (ALICE, OWNER)}
    deposit = net.cost() * 3
    request = net.request({"response_format": "json"}, deposit=deposit)
    assert not request.final  # yielded: waiting for a worker
    data = event(request, "execution_requested")
    assert data["sender_id"] == ALICE
    assert data["code_source"] == SOURCE
    assert data["resource_limits"] == {**SMALL, "max_memory_mb": 128}
    assert data["input_data"] == "hi" and data["response_format"] == "json"
    assert data["payment"] == str(deposit) and len(data["data_id"]) == 64
    assert net.view("get_request", {"request_id": data["request_id"]})["status"] == "pending"

    used = {"instructions": 12_345, "time_ms": 7}
    resolved = net.resolve(data["request_id"], output={"answer": 42}, resources_used=used)
    assert resolved.success
    final = net.ln.result(request.tx_hash)
    assert final.final and final.success
    outcome = final.json()
    assert outcome["status"] == "success"
    assert outcome["output"] == {"answer": 42}
    assert outcome["resources_used"] == {**used, "compile_ms": 0}
    completed = event(resolved, "execution_completed")  # settled by the resolve itself
    assert completed["status"] == "success"

    pricing = net.view("get_pricing")
    fee = (
        int(pricing["base_fee"])
        + 12_345 * int(pricing["per_instruction"])
        + 7 * int(pricing["per_ms"])
    )
    assert outcome["charged"] == str(fee)
    assert net.ln.balance(OWNER) - before[OWNER] == fee
    assert before[ALICE] - net.ln.balance(ALICE) == fee  # the rest of the deposit came back
    assert net.view("get_request", {"request_id": data["request_id"]}) is None
    stats = net.view("get_stats")
    assert stats["total_requests"] == 1 and stats["completed"] == 1
    assert stats["total_fees"] == str(fee)


def test_failed_execution_pays_for_what_it_used(net: Net) -> None:
    before = net.ln.balance(ALICE)
    request = net.request(deposit=net.cost() * 2)
    request_id = event(request, "execution_requested")["request_id"]
    error = {"type": "instruction_limit", "message": "instruction limit of 1000000 reached"}
    used = {"instructions": 1_000_000, "time_ms": 40}
    assert net.resolve(
        request_id, success=False, output=None, error=error, resources_used=used
    ).success
    outcome = net.ln.result(request.tx_hash).json()
    assert outcome["status"] == "failed" and outcome["error"] == error
    pricing = net.view("get_pricing")
    fee = (
        int(pricing["base_fee"])
        + 1_000_000 * int(pricing["per_instruction"])
        + 40 * int(pricing["per_ms"])
    )
    assert before - net.ln.balance(ALICE) == fee
    assert net.view("get_stats")["failed"] == 1


def test_an_overstated_usage_is_charged_at_most_the_cost_of_the_limits(net: Net) -> None:
    before = net.ln.balance(ALICE)
    request = net.request(deposit=net.cost() * 5)
    request_id = event(request, "execution_requested")["request_id"]
    huge = {"instructions": 10**15, "time_ms": 10**9}  # a worker overstating usage
    assert net.resolve(request_id, resources_used=huge).success
    assert before - net.ln.balance(ALICE) == net.limits_cost()
    assert net.ln.result(request.tx_hash).json()["charged"] == str(net.limits_cost())


def test_output_over_one_kib_is_stored_delivered_and_freed(net: Net) -> None:
    usage_before = net.ln.chain.storage_usage(net.ln.chain.account(OUTLAYER))
    request = net.request()
    request_id = event(request, "execution_requested")["request_id"]
    big = "x" * 16_000
    assert net.resolve(request_id, output=big).success
    assert net.ln.result(request.tx_hash).json()["output"] == big
    assert net.storage_keys(b"out:") == []
    assert net.storage_keys(b"req:") == []
    usage_after = net.ln.chain.storage_usage(net.ln.chain.account(OUTLAYER))
    assert usage_after - usage_before < 100  # only the counters grew


def test_timeout_returns_a_timeout_result_and_refunds_less_the_base_fee(net: Net) -> None:
    before = net.ln.balance(ALICE)
    deposit = net.cost() * 2
    request = net.request(deposit=deposit)
    request_id = event(request, "execution_requested")["request_id"]
    for _ in range(YIELD_TIMEOUT_BLOCKS):
        net.ln.chain.produce_block()
    net.ln.chain.run_until_idle()
    outcome = net.ln.result(request.tx_hash).json()
    assert outcome["status"] == "failed"
    assert outcome["error"]["type"] == "timeout"
    assert event(net.ln.result(request.tx_hash), "execution_completed")["status"] == "failed"
    base_fee = int(net.view("get_pricing")["base_fee"])
    assert before - net.ln.balance(ALICE) == base_fee
    assert net.view("get_stats")["timed_out"] == 1
    late = net.resolve(request_id)
    assert not late.success and "does not exist" in (late.failure or "")


def test_cancel_after_ten_minutes_only_by_the_sender(net: Net) -> None:
    before = net.ln.balance(ALICE)
    request = net.request(deposit=net.cost() * 2)
    request_id = event(request, "execution_requested")["request_id"]
    early = net.call(ALICE, "cancel_stale_execution", {"request_id": request_id})
    assert not early.success and "10 minutes" in (early.failure or "")
    net.ln.chain.advance_time(600)
    net.ln.chain.produce_block()
    stranger = net.call(BOB, "cancel_stale_execution", {"request_id": request_id})
    assert not stranger.success and "only the sender" in (stranger.failure or "")
    cancelled = net.call(ALICE, "cancel_stale_execution", {"request_id": request_id})
    assert cancelled.success
    assert event(cancelled, "execution_completed")["status"] == "cancelled"
    base_fee = int(net.view("get_pricing")["base_fee"])
    assert before - net.ln.balance(ALICE) == base_fee
    again = net.call(ALICE, "cancel_stale_execution", {"request_id": request_id})
    assert not again.success
    assert not net.resolve(request_id).success  # nothing left to resolve
    for _ in range(YIELD_TIMEOUT_BLOCKS):  # the yield's own timeout still ends the caller's wait
        net.ln.chain.produce_block()
    net.ln.chain.run_until_idle()
    assert net.ln.result(request.tx_hash).json()["error"]["type"] == "cancelled"
    assert before - net.ln.balance(ALICE) == base_fee  # and charges nothing more


def test_double_resolve_and_strangers_are_refused(net: Net) -> None:
    request = net.request()
    request_id = event(request, "execution_requested")["request_id"]
    stranger = net.resolve(request_id, signer=BOB)
    assert not stranger.success and "only registered workers" in (stranger.failure or "")
    assert net.resolve(request_id).success
    again = net.resolve(request_id)
    assert not again.success
    assert net.ln.result(request.tx_hash).json()["output"] == "ok"  # the first result stands
    assert not net.resolve(999).success


def test_removed_worker_cannot_resolve(net: Net) -> None:
    assert net.call(OWNER, "remove_worker", {"account_id": WORKER}).success
    request = net.request()
    request_id = event(request, "execution_requested")["request_id"]
    assert not net.resolve(request_id).success


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"code_source": {"repo": "git@github.com:a/b.git", "commit": "ab" * 20}},
            "https://github.com",
        ),
        (
            {"code_source": {"repo": "https://gitlab.com/a/b", "commit": "ab" * 20}},
            "https://github.com",
        ),
        ({"code_source": {"repo": "https://github.com/a", "commit": "ab" * 20}}, "OWNER/REPO"),
        ({"code_source": {"repo": "https://github.com/a/b", "commit": "xyz"}}, "40 hexadecimal"),
        # Names the compiler would refuse are refused before any deposit is taken.
        *[
            ({"code_source": {"repo": repo, "commit": "ab" * 20}}, "OWNER/REPO")
            for repo in (
                "https://github.com/a b/c",
                "https://github.com/a/../b",
                "https://github.com/a/..",
                "https://github.com/a/b?x=1",
                "https://github.com/" + "o" * 101 + "/b",
            )
        ],
        *[
            ({"code_source": {"repo": "https://github.com/a/b", **ref}}, "branch or tag name")
            for ref in (
                {"branch": "--upload-pack=x"},
                {"branch": "main two"},
                {"tag": "v1..2"},
                {"tag": "v1/"},
                {"branch": "a//b"},
                {"branch": "x@{1}"},
            )
        ],
        ({"secrets_ref": {"profile": "p", "branch": "-x"}}, "secrets_ref.branch"),
        ({"code_source": {"repo": "https://github.com/a/b"}}, "exactly one of commit"),
        ({"resource_limits": {"max_instructions": 10**11 + 1}}, "above the cap"),
        ({"resource_limits": {"max_execution_seconds": 61}}, "above the cap"),
        ({"resource_limits": {"max_instructions": -5}}, "non-negative whole number"),
        ({"response_format": "xml"}, "response_format must be one of"),
    ],
)
def test_bad_requests_panic_and_refund_everything(
    net: Net, change: dict[str, object], message: str
) -> None:
    before = net.ln.balance(ALICE)
    result = net.request(change, deposit=net.cost() * 10)
    assert not result.success
    assert message in (result.failure or "")
    assert net.ln.balance(ALICE) == before
    assert net.view("get_stats")["total_requests"] == 0


def test_insufficient_deposit_is_refused_with_the_amount_needed(net: Net) -> None:
    before = net.ln.balance(ALICE)
    result = net.request(deposit=net.cost() - 1)
    assert not result.success
    assert f"attach at least {net.cost()}" in (result.failure or "")
    assert net.ln.balance(ALICE) == before


def test_pricing_is_owner_set_and_estimates_follow_it(net: Net) -> None:
    prices = {"base_fee": "5", "per_instruction": "2", "per_ms": "3"}
    stranger = net.call(ALICE, "set_pricing", prices)
    assert not stranger.success and "only the owner" in (stranger.failure or "")
    assert net.call(OWNER, "set_pricing", prices).success
    compile_defaults = {"per_compile_ms": str(10**18), "max_compile_ms": "300000"}
    assert net.view("get_pricing") == {**prices, **compile_defaults}
    limits = {"max_instructions": 100, "max_execution_seconds": 2}
    assert net.cost(limits) == 5 + 100 * 2 + 2000 * 3 + STAKE
    bad = net.call(OWNER, "set_pricing", {**prices, "per_ms": "-1"})
    assert not bad.success and net.view("get_pricing") == {**prices, **compile_defaults}
    over = net.call(OWNER, "set_pricing", {**prices, "base_fee": str(2**128)})
    assert not over.success and "below 2^128" in (over.failure or "")


def test_paused_contract_refuses_requests(net: Net) -> None:
    assert net.call(OWNER, "set_paused", {"paused": True}).success
    result = net.request()
    assert not result.success and "paused" in (result.failure or "")
    assert net.call(OWNER, "set_paused", {"paused": False}).success
    accepted = net.request()
    assert event(accepted, "execution_requested")["request_id"] == 1
    assert net.view("get_stats")["total_requests"] == 1


def test_output_over_the_on_chain_cap_is_refused_and_the_request_stays_open(net: Net) -> None:
    request = net.request()
    request_id = event(request, "execution_requested")["request_id"]
    too_big = net.resolve(request_id, output="x" * (16 * 1024 + 1))
    assert not too_big.success and "larger than 16 KiB" in (too_big.failure or "")
    error = {"type": "output_limit", "message": "output exceeded 16 KiB"}
    assert net.resolve(request_id, success=False, output=None, error=error).success
    assert net.ln.result(request.tx_hash).json()["error"] == error


@pytest.mark.parametrize(
    "source",
    [
        {"repo": "https://github.com/Alice-1/my.repo_2.git", "branch": "release/v1.2+build-3"},
        {"repo": "https://github.com/a/b", "tag": "v1.0.0-rc.1"},
        {"repo": "https://github.com/a/b", "branch": "main"},
    ],
)
def test_ordinary_repositories_branches_and_tags_are_accepted(
    net: Net, source: dict[str, str]
) -> None:
    result = net.request({"code_source": source})
    assert result.failure is None, result.failure  # yielded: pending until resolved
    assert event(result, "execution_requested")["code_source"] == source


# Names on both sides of every rule: the contract (MicroPython) and outlayer/repos.py (which
# the keystore, the CLI and the compiler use) must give the same verdict on each.
REPOS = [
    "https://github.com/a/b", "https://github.com/A-1/b.c_d.git", "https://github.com/a/b.git",
    "https://github.com/a", "https://github.com/a/b/c", "https://github.com/a b/c",
    "https://github.com/a/..", "https://github.com/./b", "https://github.com/a/b?x",
    "https://github.com/a/b\n", "https://github.com/o\n/r", "https://github.com/a/b#x",
    "https://github.com/" + "o" * 100 + "/b", "https://github.com/" + "o" * 101 + "/b",
    "https://github.com/\u212a/b", "https://gitlab.com/a/b", "http://github.com/a/b",
]  # fmt: skip
REFS = [
    "main", "release/v1.2+build-3", "v1.0.0-rc.1", "a_b", "-x", "x.", "x/", "a..b", "a//b",
    "x@{1}", "main\n", "ma in", "f\u00e9ature", "b" * 128, "b" * 129, "#1", "/lead", ".lead",
]  # fmt: skip


@pytest.mark.parametrize("repo", REPOS)
def test_the_contract_and_the_services_agree_on_repositories(net: Net, repo: str) -> None:
    from outlayer.errors import OutlayerError
    from outlayer.repos import github_repo

    try:
        github_repo(repo)
        python_accepts = True
    except OutlayerError:
        python_accepts = False
    # As secrets name it (normalised first: outlayer.repos); a request's source must also be
    # spelt without surrounding spaces, which the compiler refuses.
    secrets = {"repo": repo, "profile": "p", "encrypted_secrets_base64": "c2VjcmV0"}
    stored = net.call(ALICE, "store_secrets", secrets, NEAR)
    assert stored.success == python_accepts, (repo, stored.failure)


@pytest.mark.parametrize("ref", REFS)
def test_the_contract_and_the_services_agree_on_branches(net: Net, ref: str) -> None:
    from outlayer.errors import OutlayerError
    from outlayer.repos import git_ref

    try:
        git_ref(ref)
        python_accepts = True
    except OutlayerError:
        python_accepts = False
    result = net.request({"code_source": {"repo": "https://github.com/a/b", "branch": ref}})
    assert (result.failure is None) == python_accepts, (ref, result.failure)
