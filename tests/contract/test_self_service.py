"""Self-service on chain (issue 13): projects and versions, payment keys topped up with the
stablecoin or NEAR, HTTPS usage settled by the operator into earnings, withdrawals. Each
refusal leaves the contract's storage and every balance exactly as they were."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from tests.contract.conftest import (
    ALICE,
    BOB,
    DEV,
    MILLION,
    OUTLAYER,
    OWNER,
    STORAGE_PRICE,
    TOKEN,
    Net,
    event,
    ft_balance,
)

WASM = "ab" * 32
COMMIT = "cd" * 20
SOURCE = {"repo": " HTTPS://github.com/Dev/Echo.git/ ", "commit": COMMIT}
NEAR_KEY = "near"


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def snapshot(net: Net) -> tuple[dict[bytes, bytes], dict[str, int], dict[str, int]]:
    """The contract's storage, every account's NEAR and (with the token) every token balance."""
    chain = net.ln.chain
    near = {a: acc.amount for a, acc in chain.accounts.items()}
    tokens = {}
    if TOKEN in chain.accounts:
        tokens = {a: ft_balance(net, a) for a in (OUTLAYER, ALICE, BOB, DEV, OWNER)}
    return dict(chain.account(OUTLAYER).storage), near, tokens


def bytes_under(net: Net, *prefixes: str) -> int:
    storage = net.ln.chain.account(OUTLAYER).storage
    return sum(
        len(k) + len(v) + 40
        for k, v in storage.items()
        if any(k.startswith(p.encode()) for p in prefixes)
    )


def create_key(net: Net, signer: str = ALICE, token: str = TOKEN, **limits: Any) -> int:
    body = {"key_hash": key_hash(f"{signer}-{limits}-{token}"), "token_id": token, **limits}
    result = net.call(signer, "create_payment_key", body, deposit=10**22)
    assert result.success, result.failure
    nonce: int = result.json()["nonce"]
    return nonce


def top_up(net: Net, value: int, owner: str = ALICE, nonce: int = 1, signer: str = ALICE) -> Any:
    msg = json.dumps({"action": "top_up_payment_key", "owner": owner, "nonce": nonce})
    body = {"receiver_id": OUTLAYER, "amount": str(value), "msg": msg}
    result = net.ln.call(signer, TOKEN, "ft_transfer_call", body, deposit=1)
    assert result.success, result.failure
    return result


def entry(ledger_id: int, amount: int, fee: int = 0, nonce: int = 1, **extra: Any) -> Any:
    return {"ledger_id": ledger_id, "key_owner": ALICE, "key_nonce": nonce, "owner": DEV,
            "project": "echo", "amount": str(amount), "fee": str(fee), **extra}  # fmt: skip


def key_balance(net: Net, owner: str = ALICE, nonce: int = 1) -> int:
    return int(net.view("get_payment_key", {"owner": owner, "nonce": nonce})["balance"])


# --- projects -----------------------------------------------------------------------------------
def test_a_project_and_its_versions(net: Net) -> None:
    before = net.ln.balance(DEV)
    created = net.call(DEV, "create_project", {"name": "echo", "code_source": SOURCE}, 10**23)
    assert created.success, created.failure
    answer = created.json()
    assert answer["project_id"] == f"{DEV}/echo" and answer["version"] == 1
    stored = bytes_under(net, "prj:", "pv:", "uprj:")
    assert int(answer["storage_deposit"]) == stored * STORAGE_PRICE  # exactly what it takes
    assert before - net.ln.balance(DEV) == stored * STORAGE_PRICE  # and the rest came back
    source = {"repo": "https://github.com/dev/echo", "commit": COMMIT}  # normalised once
    assert event(created, "project_created") == {
        "project_id": f"{DEV}/echo", "owner": DEV, "name": "echo", "version": 1,
        "code_source": source, "created_at": event(created, "project_created")["created_at"],
    }  # fmt: skip

    added = net.call(DEV, "add_version", {"name": "echo", "wasm_sha256": WASM.upper()}, 10**22)
    assert added.success, added.failure
    assert added.json()["active_version"] == 2
    assert event(added, "project_version_added")["wasm_sha256"] == WASM
    third = {"name": "echo", "code_source": source, "activate": False}
    assert net.call(DEV, "add_version", third, 10**22).json()["active_version"] == 2
    assert before - net.ln.balance(DEV) == bytes_under(net, "prj:", "pv:", "uprj:") * STORAGE_PRICE

    project = net.view("get_project", {"project_id": f"{DEV}/echo"})
    assert project["active_version"] == 2 and project["versions"] == 3
    assert project["active"]["wasm_sha256"] == WASM
    switched = net.call(DEV, "set_active_version", {"name": "echo", "version": 1})
    assert switched.success, switched.failure
    assert event(switched, "project_active_version_set")["version"] == 1
    assert net.view("get_project", {"project_id": f"{DEV}/echo"})["active"]["code_source"] == source
    page = net.view("list_versions", {"project_id": f"{DEV}/echo", "from": 2, "limit": 5})
    assert [v["version"] for v in page] == [2, 3]
    assert [p["name"] for p in net.view("list_user_projects", {"account_id": DEV})] == ["echo"]
    # Storage held by the project is still exactly its bytes (set_active_version costs none).
    assert before - net.ln.balance(DEV) == bytes_under(net, "prj:", "pv:", "uprj:") * STORAGE_PRICE


def test_deleting_a_project_refunds_all_its_storage(net: Net) -> None:
    before = net.ln.balance(DEV)
    assert net.call(DEV, "create_project", {"name": "a", "wasm_sha256": WASM}, 10**23).success
    assert net.call(DEV, "create_project", {"name": "b", "code_source": SOURCE}, 10**23).success
    for _ in range(3):
        assert net.call(DEV, "add_version", {"name": "a", "wasm_sha256": WASM}, 10**22).success
    deleted = net.call(DEV, "delete_project", {"name": "a"})
    assert deleted.success, deleted.failure
    assert event(deleted, "project_deleted")["refunded"] == deleted.json()["refunded"]
    assert before - net.ln.balance(DEV) == bytes_under(net, "prj:", "pv:", "uprj:") * STORAGE_PRICE
    assert net.view("get_project", {"project_id": f"{DEV}/a"}) is None
    assert net.view("list_versions", {"project_id": f"{DEV}/a"}) == []
    assert net.call(DEV, "delete_project", {"name": "b"}).success
    assert net.ln.balance(DEV) == before  # every yoctoNEAR of storage came back
    assert bytes_under(net, "prj:", "pv:", "uprj:") == 0
    assert net.view("list_user_projects", {"account_id": DEV}) == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "Echo", "wasm_sha256": WASM}, "name must be 1 to 64 characters"),
        ({"name": "-x", "wasm_sha256": WASM}, "starting with a letter"),
        ({"name": "a" * 65, "wasm_sha256": WASM}, "name must be 1 to 64"),
        ({"name": "a/b", "wasm_sha256": WASM}, "name must be"),
        ({"name": "x"}, "exactly one of code_source"),
        ({"name": "x", "wasm_sha256": WASM, "code_source": SOURCE}, "exactly one of"),
        ({"name": "x", "wasm_sha256": "zz" * 32}, "wasm_sha256 must be 64 hexadecimal"),
        ({"name": "x", "code_source": {"repo": "https://gitlab.com/a/b", "commit": COMMIT}},
         "https://github.com/OWNER/REPO"),
        ({"name": "x", "code_source": {"repo": "https://github.com/a/b", "commit": "1"}},
         "40 hexadecimal"),
    ],
)  # fmt: skip
def test_bad_projects_are_refused(net: Net, body: dict[str, Any], message: str) -> None:
    before = snapshot(net)
    result = net.call(DEV, "create_project", body, 10**23)
    assert not result.success and message in (result.failure or ""), result.failure
    assert snapshot(net) == before


def test_only_the_owner_changes_a_project(net: Net) -> None:
    assert net.call(DEV, "create_project", {"name": "echo", "wasm_sha256": WASM}, 10**23).success
    again = net.call(DEV, "create_project", {"name": "echo", "wasm_sha256": WASM}, 10**23)
    assert not again.success and "already have a project" in (again.failure or "")
    before = snapshot(net)
    for method, body in (
        ("add_version", {"name": "echo", "wasm_sha256": WASM}),
        ("set_active_version", {"name": "echo", "version": 1}),
        ("delete_project", {"name": "echo"}),
    ):
        result = net.call(BOB, method, body, 10**22)
        assert not result.success and "you have no project named 'echo'" in (result.failure or "")
    short = net.call(DEV, "add_version", {"name": "echo", "wasm_sha256": WASM}, 10**19)
    assert not short.success and "attach at least" in (short.failure or "")
    wrong = net.call(DEV, "set_active_version", {"name": "echo", "version": 2})
    assert not wrong.success and "version must be a whole number from 1 to 1" in (
        wrong.failure or ""
    )
    assert snapshot(net) == before


# --- payment keys -------------------------------------------------------------------------------
def test_a_key_is_created_topped_up_and_deleted_with_everything_back(net: Net, token: str) -> None:
    near_before, tokens_before = net.ln.balance(ALICE), ft_balance(net, ALICE)
    limits = {"max_per_call": str(2 * MILLION), "allowed_projects": [f"{DEV}/echo"]}
    body = {"key_hash": key_hash("s3cret"), "token_id": token, **limits}
    created = net.call(ALICE, "create_payment_key", body, 10**22)
    assert created.success, created.failure
    assert created.json()["nonce"] == 1
    made = event(created, "payment_key_created")
    assert made["key_hash"] == key_hash("s3cret") and made["balance"] == "0"
    assert made["max_per_call"] == str(2 * MILLION) and made["allowed_projects"] == [f"{DEV}/echo"]
    stored = bytes_under(net, "pk:", "pkh:", "pkn:")
    assert near_before - net.ln.balance(ALICE) == stored * STORAGE_PRICE
    assert b"s3cret" not in b"".join(net.ln.chain.account(OUTLAYER).storage.values())

    topped = top_up(net, 7 * MILLION)
    assert event(topped, "payment_key_topped_up") == {
        "owner": ALICE, "nonce": 1, "token_id": token, "amount": str(7 * MILLION),
        "balance": str(7 * MILLION),
    }  # fmt: skip
    assert key_balance(net) == 7 * MILLION and ft_balance(net, OUTLAYER) == 7 * MILLION

    deleted = net.call(ALICE, "delete_payment_key", {"nonce": 1})
    assert deleted.success, deleted.failure
    assert deleted.json()["refunded_balance"] == str(7 * MILLION)
    assert event(deleted, "payment_key_deleted")["refunded_storage"] == str(
        (stored - bytes_under(net, "pkn:")) * STORAGE_PRICE
    )
    assert net.view("get_payment_key", {"owner": ALICE, "nonce": 1}) is None
    assert ft_balance(net, ALICE) == tokens_before and ft_balance(net, OUTLAYER) == 0
    # The nonce counter stays (a nonce is never reused), and it is all that Alice still pays for
    # (with the 1 yoctoNEAR ft_transfer_call takes).
    assert near_before - net.ln.balance(ALICE) == bytes_under(net, "pkn:") * STORAGE_PRICE + 1
    assert create_key(net) == 2


def test_a_top_up_for_a_key_that_does_not_exist_is_returned(net: Net, token: str) -> None:
    before = snapshot(net)
    msg = json.dumps({"action": "top_up_payment_key", "owner": ALICE, "nonce": 9})
    body = {"receiver_id": OUTLAYER, "amount": str(MILLION), "msg": msg}
    result = net.ln.call(ALICE, TOKEN, "ft_transfer_call", body, deposit=1)
    assert result.success and result.json() == "0"  # ft_transfer_call: nothing was used
    assert any("returned 1000000 of usdc.test: no such payment key" in log for log in result.logs)
    storage, _, tokens = snapshot(net)
    assert storage == before[0] and tokens == before[2]


def test_a_top_up_of_someone_elses_key_is_returned(net: Net, token: str) -> None:
    create_key(net, signer=BOB)
    before = snapshot(net)
    result = top_up(net, 100, owner=BOB, nonce=1)
    assert result.json() == "0"
    assert any("only the owner of payment key bob.test/1 may top it up" in log
               for log in result.logs)  # fmt: skip
    assert snapshot(net)[0] == before[0] and snapshot(net)[2] == before[2]
    assert key_balance(net, BOB) == 0


def test_someone_else_cannot_delete_a_key(net: Net, token: str) -> None:
    create_key(net)
    top_up(net, MILLION)
    before = snapshot(net)
    as_owner = net.call(BOB, "delete_payment_key", {"owner": ALICE, "nonce": 1})
    assert not as_owner.success
    assert "only the owner of a payment key may delete it" in (as_owner.failure or "")
    own = net.call(BOB, "delete_payment_key", {"nonce": 1})
    assert not own.success and "you have no payment key with nonce 1" in (own.failure or "")
    assert snapshot(net)[0] == before[0] and snapshot(net)[2] == before[2]
    assert key_balance(net) == MILLION


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"key_hash": "00" * 31, "token_id": TOKEN}, "key_hash must be 64 hexadecimal"),
        ({"key_hash": "00" * 32, "token_id": "other.test"}, "token_id must be a whitelisted"),
        ({"key_hash": "00" * 32, "token_id": TOKEN, "expires_at": 1}, "expires_at is in the past"),
        ({"key_hash": "00" * 32, "token_id": TOKEN, "allowed_projects": ["echo"]},
         '"OWNER/NAME" project ids'),
        ({"key_hash": "00" * 32, "token_id": TOKEN, "max_per_call": "-1"}, "max_per_call must"),
    ],
)  # fmt: skip
def test_bad_keys_are_refused(net: Net, token: str, body: dict[str, Any], message: str) -> None:
    before = snapshot(net)
    result = net.call(ALICE, "create_payment_key", body, 10**22)
    assert not result.success and message in (result.failure or ""), result.failure
    assert snapshot(net) == before


def test_a_key_hash_is_taken_once_and_finds_its_key(net: Net, token: str) -> None:
    body = {"key_hash": key_hash("same"), "token_id": token}
    assert net.call(ALICE, "create_payment_key", body, 10**22).success
    again = net.call(BOB, "create_payment_key", body, 10**22)
    assert not again.success and "key_hash exists already" in (again.failure or "")
    found = net.view("find_payment_key", {"key_hash": key_hash("same").upper()})
    assert (found["owner"], found["nonce"], found["balance"]) == (ALICE, 1, "0")
    assert net.view("find_payment_key", {"key_hash": key_hash("other")}) is None
    assert net.call(ALICE, "delete_payment_key", {"nonce": 1}).success
    assert net.view("find_payment_key", {"key_hash": key_hash("same")}) is None


def test_a_near_key_is_topped_up_settled_and_withdrawn_in_near(net: Net) -> None:
    nonce = create_key(net, token=NEAR_KEY)
    body = {"owner": ALICE, "nonce": nonce}
    wrong = net.call(BOB, "top_up_payment_key", body, deposit=10**24)
    assert not wrong.success and "only the owner" in (wrong.failure or "")
    top_up_near = net.call(ALICE, "top_up_payment_key", {"nonce": nonce}, deposit=3 * 10**24)
    assert top_up_near.json() == {"balance": str(3 * 10**24)}
    settled = net.call(OWNER, "settle_https_usage",
                       {"entries": [entry(1, 10**24, 10**23, nonce=nonce)]})  # fmt: skip
    assert settled.success, settled.failure
    assert net.view("get_developer_earnings", {"account_id": DEV}) == {"near": str(10**24)}
    assert net.view("get_developer_earnings", {"account_id": OWNER}) == {"near": str(10**23)}
    dev_before = net.ln.balance(DEV)
    withdrawn = net.call(DEV, "withdraw_developer_earnings", {"token_id": "near"})
    assert withdrawn.json() is True
    assert net.ln.balance(DEV) - dev_before == 10**24
    assert event(withdrawn, "earnings_withdrawn")["amount"] == str(10**24)
    alice_before = net.ln.balance(ALICE)
    deleted = net.call(ALICE, "delete_payment_key", {"nonce": nonce}).json()
    assert deleted["refunded_balance"] == str(19 * 10**23)
    refunded = int(deleted["refunded_balance"]) + int(deleted["refunded_storage"])
    assert net.ln.balance(ALICE) - alice_before == refunded


def test_ft_keys_are_topped_up_only_in_their_token(net: Net, token: str) -> None:
    nonce = create_key(net)
    result = net.call(ALICE, "top_up_payment_key", {"nonce": nonce}, deposit=10**24)
    assert not result.success and "funded in usdc.test" in (result.failure or "")
    assert "ft_transfer_call" in (result.failure or "")


def test_an_expired_key_takes_no_top_up(net: Net, token: str) -> None:
    soon = net.ln.chain.head.timestamp_ns + 5 * 10**9
    create_key(net, expires_at=soon)
    net.ln.chain.advance_time(60)
    net.ln.chain.produce_block()
    result = top_up(net, MILLION)
    assert any("has expired" in log for log in result.logs)
    assert key_balance(net) == 0 and ft_balance(net, OUTLAYER) == 0


# --- settlement ---------------------------------------------------------------------------------
def funded(net: Net, value: int = 10 * MILLION, **limits: Any) -> int:
    nonce = create_key(net, **limits)
    top_up(net, value, nonce=nonce)
    return nonce


def test_settlement_moves_key_balances_into_earnings(net: Net, token: str) -> None:
    funded(net)
    batch = {"batch_id": "b-1", "entries": [entry(5, 2 * MILLION, 100), entry(9, MILLION)]}
    settled = net.call(OWNER, "settle_https_usage", batch)
    assert settled.json() == {"settled": 2, "last_ledger_id": 9}
    data = event(settled, "https_usage_settled")
    assert data["batch_id"] == "b-1" and (data["first_ledger_id"], data["last_ledger_id"]) == (5, 9)
    assert [e["key_balance"] for e in data["entries"]] == [
        str(8 * MILLION - 100), str(7 * MILLION - 100)]  # fmt: skip
    assert key_balance(net) == 7 * MILLION - 100
    assert net.view("get_developer_earnings", {"account_id": DEV}) == {token: str(3 * MILLION)}
    assert net.view("get_developer_earnings", {"account_id": OWNER}) == {token: "100"}
    assert net.view("get_https_settlement") == {"last_ledger_id": 9, "batches": 1, "entries": 2}

    withdrawn = net.ln.call(DEV, OUTLAYER, "withdraw_developer_earnings", {"token_id": token})
    assert withdrawn.json() is True and ft_balance(net, DEV) == 3 * MILLION
    assert event(withdrawn, "earnings_withdrawn") == {
        "account_id": DEV, "token_id": token, "amount": str(3 * MILLION)}  # fmt: skip
    # Every unit is accounted for: Alice, the key, the developer, the operator's fee.
    total = ft_balance(net, ALICE) + key_balance(net) + ft_balance(net, DEV) + 100
    assert total == 1000 * MILLION and ft_balance(net, OUTLAYER) == key_balance(net) + 100


def test_a_replayed_settlement_is_refused_and_moves_nothing(net: Net, token: str) -> None:
    funded(net)
    batch = {"entries": [entry(1, MILLION), entry(2, MILLION)]}
    assert net.call(OWNER, "settle_https_usage", batch).success
    before = snapshot(net)
    replayed = net.call(OWNER, "settle_https_usage", batch)
    assert not replayed.success
    assert "entries[0].ledger_id 1 is not above 2" in (replayed.failure or "")
    overlapping = net.call(OWNER, "settle_https_usage", {"entries": [entry(3, 1), entry(2, 1)]})
    assert not overlapping.success and "entries[1].ledger_id 2 is not above 3" in (
        overlapping.failure or ""
    )
    assert snapshot(net) == before
    assert key_balance(net) == 8 * MILLION


def test_settlement_by_anyone_but_the_operator_is_refused(net: Net, token: str) -> None:
    funded(net)
    before = snapshot(net)
    for signer in (ALICE, DEV):
        result = net.call(signer, "settle_https_usage", {"entries": [entry(1, MILLION)]})
        assert not result.success
        assert "only the operator (owner.test) may settle" in (result.failure or "")
    not_owner = net.call(DEV, "set_operator", {"account_id": DEV})
    assert not not_owner.success and "only the owner" in (not_owner.failure or "")
    assert snapshot(net)[0] == before[0]
    assert net.call(OWNER, "set_operator", {"account_id": BOB}).success
    assert net.view("get_operator") == BOB
    refused = net.call(OWNER, "settle_https_usage", {"entries": [entry(1, MILLION)]})
    assert not refused.success and "only the operator (bob.test)" in (refused.failure or "")
    assert net.call(BOB, "settle_https_usage", {"entries": [entry(1, MILLION)]}).success


def test_a_debit_beyond_a_keys_balance_refuses_the_whole_batch(net: Net, token: str) -> None:
    funded(net, 3 * MILLION)
    before = snapshot(net)
    batch = {"entries": [entry(1, 2 * MILLION), entry(2, MILLION, fee=1)]}
    result = net.call(OWNER, "settle_https_usage", batch)
    assert not result.success
    assert ("entries[1] debits 1000001 from payment key alice.test/1, whose balance is 1000000"
            in (result.failure or ""))  # fmt: skip
    assert snapshot(net) == before  # the first entry did not move either
    assert net.view("get_https_settlement")["last_ledger_id"] == 0


@pytest.mark.parametrize(
    ("limits", "bad", "message"),
    [
        ({"max_per_call": "500"}, {"amount": "400", "fee": "101"}, "above payment key"),
        ({"allowed_projects": [f"{DEV}/other"]}, {}, "does not allow dev.test/echo"),
        ({}, {"key_nonce": 7}, "payment key alice.test/7 does not exist"),
        ({}, {"project": "a/b"}, "entries[0].project must be a project name without"),
        ({}, {"amount": "1.5"}, "entries[0].amount must be"),
    ],
)
def test_settlement_respects_each_keys_limits(
    net: Net, token: str, limits: dict[str, Any], bad: dict[str, Any], message: str
) -> None:
    funded(net, **limits)
    before = snapshot(net)
    result = net.call(OWNER, "settle_https_usage", {"entries": [{**entry(1, 100), **bad}]})
    assert not result.success and message in (result.failure or ""), result.failure
    assert snapshot(net) == before


def test_a_batch_is_bounded(net: Net, token: str) -> None:
    funded(net)
    too_many = {"entries": [entry(i + 1, 1) for i in range(41)]}
    result = net.call(OWNER, "settle_https_usage", too_many)
    assert not result.success and "1 to 40 entries" in (result.failure or "")
    largest = net.call(OWNER, "settle_https_usage",
                       {"entries": [entry(i + 1, 1) for i in range(40)]})  # fmt: skip
    assert largest.success, largest.failure


# --- withdrawals --------------------------------------------------------------------------------
def test_withdrawals_larger_than_the_balance_are_refused(net: Net, token: str) -> None:
    funded(net)
    assert net.call(OWNER, "settle_https_usage", {"entries": [entry(1, MILLION)]}).success
    deposit = {"receiver_id": OUTLAYER, "amount": str(2 * MILLION),
               "msg": '{"action":"deposit_balance"}'}  # fmt: skip
    assert net.ln.call(ALICE, TOKEN, "ft_transfer_call", deposit, deposit=1).success
    before = snapshot(net)
    big = net.call(DEV, "withdraw_developer_earnings", {"token_id": token, "amount": "1000001"})
    assert not big.success
    assert "cannot withdraw 1000001: your earnings in usdc.test is 1000000" in (big.failure or "")
    big = net.call(ALICE, "withdraw_user_balance", {"token_id": token, "amount": "2000001"})
    assert not big.success
    assert "cannot withdraw 2000001: your balance in usdc.test is 2000000" in (big.failure or "")
    none = net.call(BOB, "withdraw_user_balance", {"token_id": token})
    assert not none.success and "no balance to withdraw" in (none.failure or "")
    assert snapshot(net)[0] == before[0] and snapshot(net)[2] == before[2]

    part = net.call(DEV, "withdraw_developer_earnings", {"token_id": token, "amount": "400000"})
    assert part.json() is True and ft_balance(net, DEV) == 400_000
    assert net.view("get_developer_earnings", {"account_id": DEV}) == {token: "600000"}
    alice = ft_balance(net, ALICE)
    back = net.call(ALICE, "withdraw_user_balance", {"token_id": token})
    assert back.json() is True and ft_balance(net, ALICE) - alice == 2 * MILLION
    assert event(back, "balance_withdrawn")["amount"] == str(2 * MILLION)
    assert net.view("get_user_balance", {"account_id": ALICE, "token_id": token}) == "0"


def test_a_failed_refund_of_a_deleted_key_lands_in_the_owners_balance(net: Net, token: str) -> None:
    funded(net, 4 * MILLION)
    assert net.ln.call(ALICE, TOKEN, "freeze", {"account_id": ALICE}).success  # Alice owns it
    deleted = net.call(ALICE, "delete_payment_key", {"nonce": 1})
    assert deleted.success, deleted.failure
    assert net.view("get_user_balance", {"account_id": ALICE, "token_id": token}) == str(
        4 * MILLION
    )
    assert ft_balance(net, OUTLAYER) == 4 * MILLION  # owed to Alice, withdrawable
