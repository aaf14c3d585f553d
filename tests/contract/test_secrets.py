"""Secrets storage: deposits for storage, refunds on delete, the per-user index, shape checks."""

from __future__ import annotations

import pytest

from localnet.node import NEAR, TxResult
from tests.contract.conftest import ALICE, BOB, OUTLAYER, Net

REPO = "https://github.com/alice/hello"
BLOB = "c2VjcmV0IGJsb2I="  # base64, opaque to the contract
WHITELIST = {"Whitelist": {"accounts": ["bob.test"]}}


def store(net: Net, deposit: int = NEAR, **fields: object) -> TxResult:
    body = {"repo": REPO, "profile": "prod", "encrypted_secrets_base64": BLOB, "access": WHITELIST}
    return net.call(ALICE, "store_secrets", {**body, **fields}, deposit)


def test_store_charges_storage_refunds_the_excess_and_indexes(net: Net) -> None:
    before = net.ln.balance(ALICE)
    result = store(net)
    assert result.success, result.failure
    paid = int(result.json()["storage_deposit"])
    assert 0 < paid < NEAR
    assert before - net.ln.balance(ALICE) == paid
    stored = net.view("get_secrets", {"owner": ALICE, "repo": REPO, "profile": "prod"})
    assert stored == {"encrypted_secrets_base64": BLOB, "access": WHITELIST}
    assert net.view("list_user_secrets", {"account_id": ALICE}) == [
        {"repo": REPO, "branch": None, "profile": "prod"}
    ]
    assert net.view("list_user_secrets", {"account_id": BOB}) == []


def test_delete_refunds_the_storage_deposit_and_cleans_the_index(net: Net) -> None:
    before = net.ln.balance(ALICE)
    usage_before = net.ln.chain.storage_usage(net.ln.chain.account(OUTLAYER))
    assert store(net).success
    deleted = net.call(ALICE, "delete_secrets", {"repo": REPO, "profile": "prod"})
    assert deleted.success
    assert net.ln.balance(ALICE) == before
    assert net.view("get_secrets", {"owner": ALICE, "repo": REPO, "profile": "prod"}) is None
    assert net.view("list_user_secrets", {"account_id": ALICE}) == []
    assert net.ln.chain.storage_usage(net.ln.chain.account(OUTLAYER)) == usage_before
    missing = net.call(ALICE, "delete_secrets", {"repo": REPO, "profile": "prod"})
    assert not missing.success and "no secrets stored" in (missing.failure or "")


def test_branches_and_profiles_are_separate_and_owners_too(net: Net) -> None:
    assert store(net).success
    assert store(net, branch="main").success
    assert store(net, profile="staging").success
    assert len(net.view("list_user_secrets", {"account_id": ALICE})) == 3
    assert net.view("get_secrets", {"owner": BOB, "repo": REPO, "profile": "prod"}) is None
    stranger = net.call(BOB, "delete_secrets", {"repo": REPO, "profile": "prod"})
    assert not stranger.success  # Bob has no such secrets; Alice's are untouched
    assert len(net.view("list_user_secrets", {"account_id": ALICE})) == 3


def test_too_small_deposit_is_refused(net: Net) -> None:
    before = net.ln.balance(ALICE)
    result = store(net, deposit=1)
    assert not result.success
    assert "attach at least" in (result.failure or "")
    assert net.ln.balance(ALICE) == before


@pytest.mark.parametrize(
    ("access", "message"),
    [
        ({"Everyone": {}}, "unknown access condition"),
        ({"Whitelist": {"accounts": []}}, "non-empty list"),
        ({"AccountPattern": {"pattern": ""}}, "regular expression"),
        ({"NearBalance": {"min_balance": "lots"}}, "whole number"),
        ({"FtBalance": {"contract_id": "usdc.test"}}, "FtBalance.min_balance"),
        ({"NftOwned": {}}, "contract_id"),
        ({"Logic": {"operator": "Xor", "conditions": [{"AllowAll": {}}]}}, "And, Or or Not"),
        (
            {"Logic": {"operator": "Not", "conditions": [{"AllowAll": {}}, {"AllowAll": {}}]}},
            "exactly one",
        ),
        ({"Logic": {"operator": "And", "conditions": [{"Bad": {}}]}}, "unknown access condition"),
    ],
)
def test_invalid_access_conditions_are_refused(net: Net, access: object, message: str) -> None:
    result = store(net, access=access)
    assert not result.success
    assert message in (result.failure or "")
    assert net.view("list_user_secrets", {"account_id": ALICE}) == []


def test_nested_logic_conditions_are_accepted(net: Net) -> None:
    access = {
        "Logic": {
            "operator": "Or",
            "conditions": [
                {"AccountPattern": {"pattern": "^.*\\.test$"}},
                {
                    "Logic": {
                        "operator": "Not",
                        "conditions": [{"NearBalance": {"min_balance": "5"}}],
                    }
                },
                {"FtBalance": {"contract_id": "usdc.test", "min_balance": "10"}},
            ],
        }
    }
    assert store(net, access=access).success


def test_bad_base64_is_refused(net: Net) -> None:
    result = store(net, encrypted_secrets_base64="!!!not base64!!!")
    assert not result.success
    assert "base64" in (result.failure or "")
