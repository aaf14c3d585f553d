"""Secrets storage: deposits for storage, refunds on delete, the per-user index, shape checks."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from localnet.node import NEAR, TxResult
from tests.contract.conftest import ALICE, BOB, OUTLAYER, STORAGE_PRICE, Net

REPO = "https://github.com/alice/hello"
BLOB = "c2VjcmV0IGJsb2I="  # base64, opaque to the contract
WHITELIST = {"Whitelist": {"accounts": ["bob.test"]}}


def store(net: Net, deposit: int = NEAR, **fields: object) -> TxResult:
    return store_as(net, fields, deposit)


def store_as(net: Net, fields: Mapping[str, object], deposit: int = NEAR) -> TxResult:
    body = {"repo": REPO, "profile": "prod", "encrypted_secrets_base64": BLOB, "access": WHITELIST}
    return net.call(ALICE, "store_secrets", {**body, **fields}, deposit)


def usage(net: Net) -> int:
    return net.ln.chain.storage_usage(net.ln.chain.account(OUTLAYER))


def test_store_charges_storage_refunds_the_excess_and_indexes(net: Net) -> None:
    before = net.ln.balance(ALICE)
    usage_before = usage(net)
    result = store(net)
    assert result.success, result.failure
    answer = result.json()
    paid = int(answer["charged"])
    assert 0 < int(answer["storage_deposit"]) < paid < NEAR  # the index's overhead on top
    assert before - net.ln.balance(ALICE) == paid
    assert paid == (usage(net) - usage_before) * STORAGE_PRICE  # exactly the bytes it takes
    stored = net.view("get_secrets", {"owner": ALICE, "repo": REPO, "profile": "prod"})
    assert stored == {"encrypted_secrets_base64": BLOB, "access": WHITELIST}
    assert net.view("list_user_secrets", {"account_id": ALICE}) == [
        {"repo": REPO, "branch": "", "profile": "prod"}
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


def test_storing_the_same_secrets_again_keeps_the_deposit_exact(net: Net) -> None:
    """Each store used to give back 21 bytes' worth: after 17 the secret was held for free."""
    start_balance, start_usage = net.ln.balance(OUTLAYER), usage(net)
    first = store(net)
    assert first.success, first.failure
    deposit = first.json()["storage_deposit"]
    alice = net.ln.balance(ALICE)
    for _ in range(20):
        again = store(net)
        assert again.success, again.failure
        assert again.json() == {"storage_deposit": deposit, "charged": "0", "refunded": str(NEAR)}
        assert net.ln.balance(ALICE) == alice  # the attached NEAR came back, nothing else
        held = net.ln.balance(OUTLAYER) - start_balance
        assert held == (usage(net) - start_usage) * STORAGE_PRICE


def test_a_larger_or_smaller_blob_pays_or_gets_back_exactly_the_difference(net: Net) -> None:
    start_balance, start_usage = net.ln.balance(OUTLAYER), usage(net)
    for blob in (BLOB, "QUJD" * 100, BLOB, "QUJD" * 7):
        assert store(net, encrypted_secrets_base64=blob).success
        held = net.ln.balance(OUTLAYER) - start_balance
        assert held == (usage(net) - start_usage) * STORAGE_PRICE
    assert net.call(ALICE, "delete_secrets", {"repo": REPO, "profile": "prod"}).success
    assert (net.ln.balance(OUTLAYER), usage(net)) == (start_balance, start_usage)


def test_several_secrets_deleted_in_any_order_refund_exactly_what_they_took(net: Net) -> None:
    start_balance, start_usage = net.ln.balance(OUTLAYER), usage(net)
    targets = [{"profile": "prod"}, {"profile": "prod", "branch": "main"}, {"profile": "dev"}]
    for target in targets:
        assert store_as(net, target).success
    for target in targets:  # the first one (which created the index) goes first
        assert net.call(ALICE, "delete_secrets", {"repo": REPO, **target}).success
        held = net.ln.balance(OUTLAYER) - start_balance
        assert held == (usage(net) - start_usage) * STORAGE_PRICE
    assert (net.ln.balance(OUTLAYER), usage(net)) == (start_balance, start_usage)


@pytest.mark.parametrize(("stored_as", "deleted_as"), [("", None), (None, ""), ("", "")])
def test_no_branch_and_an_empty_branch_are_one_secret(
    net: Net, stored_as: str | None, deleted_as: str | None
) -> None:
    """They were one record but two index entries: after a delete one could never go."""
    assert store(net, branch=stored_as).success
    assert store(net, branch="" if stored_as is None else None).success
    assert net.view("list_user_secrets", {"account_id": ALICE}) == [
        {"repo": REPO, "branch": "", "profile": "prod"}
    ]
    for branch in (None, ""):
        found = net.view(
            "get_secrets", {"owner": ALICE, "repo": REPO, "profile": "prod", "branch": branch}
        )
        assert found is not None
    target = {"repo": REPO, "profile": "prod", "branch": deleted_as}
    assert net.call(ALICE, "delete_secrets", target).success
    assert net.view("list_user_secrets", {"account_id": ALICE}) == []
    assert not net.call(ALICE, "delete_secrets", target).success


@pytest.mark.parametrize(
    "spelling",
    [
        "  HTTPS://GitHub.com/Alice/Hello.git ",
        "https://github.com/alice/hello/",
        "https://github.com/alice/hello.git//",
        "https://GITHUB.COM/ALICE/HELLO",
    ],
)
def test_the_repository_is_normalised_at_the_boundary(net: Net, spelling: str) -> None:
    assert store(net, repo=spelling).success
    assert net.view("list_user_secrets", {"account_id": ALICE}) == [
        {"repo": REPO, "branch": "", "profile": "prod"}
    ]
    assert net.view("get_secrets", {"owner": ALICE, "repo": REPO, "profile": "prod"}) is not None
    assert store(net, repo=REPO).success  # the same secrets, replaced
    assert len(net.view("list_user_secrets", {"account_id": ALICE})) == 1
    assert net.call(ALICE, "delete_secrets", {"repo": spelling, "profile": "prod"}).success
    assert net.view("list_user_secrets", {"account_id": ALICE}) == []


def test_only_one_trailing_git_is_removed_after_the_slashes(net: Net) -> None:
    assert store(net, repo="https://github.com/alice/hello.git.git/").success
    listed = net.view("list_user_secrets", {"account_id": ALICE})
    assert [e["repo"] for e in listed] == ["https://github.com/alice/hello.git"]


def test_without_access_only_the_storing_account_may_use_the_secrets(net: Net) -> None:
    body = {"repo": REPO, "profile": "prod", "encrypted_secrets_base64": BLOB}
    assert net.call(ALICE, "store_secrets", body, NEAR).success
    stored = net.view("get_secrets", {"owner": ALICE, "repo": REPO, "profile": "prod"})
    assert stored["access"] == {"Whitelist": {"accounts": [ALICE]}}
    assert store(net, access={"AllowAll": {}}).success  # everyone only when asked for
    stored = net.view("get_secrets", {"owner": ALICE, "repo": REPO, "profile": "prod"})
    assert stored["access"] == {"AllowAll": {}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"repo": "   "}, "repo is required"),
        ({"repo": "https://github.com/alice/h\u00e9llo"}, "ASCII"),
        ({"profile": ""}, "profile must be a non-empty string"),
        ({"branch": 5}, "branch must be a string"),
        # A repository the compiler could never build, or a branch git would refuse, is refused
        # before anything is stored or charged.
        ({"repo": "not-a-url"}, "https://github.com/OWNER/REPO"),
        ({"repo": "https://gitlab.com/alice/hello"}, "https://github.com/OWNER/REPO"),
        ({"repo": "https://github.com/alice"}, "OWNER/REPO"),
        ({"repo": "https://github.com/alice/hello/tree/main"}, "OWNER/REPO"),
        ({"branch": "-x"}, "branch or tag name"),
        ({"branch": "a..b"}, "branch or tag name"),
        ({"encrypted_secrets_base64": "QUJD" * 4097}, "longer than 16384 bytes"),
    ],
)
def test_bad_secrets_arguments_are_refused(
    net: Net, change: dict[str, object], message: str
) -> None:
    before = net.ln.balance(ALICE)
    result = store_as(net, change)
    assert not result.success and message in (result.failure or ""), result.failure
    assert net.ln.balance(ALICE) == before


def test_arguments_beyond_the_contracts_memory_fail_cleanly(net: Net) -> None:
    """The contract's wasm memory is 16 MiB and its heap 1 MiB (devtools/nearc_patch.py);
    arguments too large to parse within the gas run out of gas first, larger ones than the
    memory trap: either way nothing is stored and the attached NEAR comes back."""
    before, usage_before = net.ln.balance(ALICE), usage(net)
    for size, failure in ((100_000, "GasExceeded"), (2 * 1024 * 1024, "out of bounds memory")):
        result = store(net, encrypted_secrets_base64="QUJD" * (size // 4))
        assert not result.success
        assert failure in (result.failure or ""), result.failure
        assert net.ln.balance(ALICE) == before and usage(net) == usage_before


def test_reading_and_deleting_take_names_storing_refuses(net: Net) -> None:
    """Only storing applies the naming rules: a record stored before them can still be read and
    deleted (its deposit given back), so no deposit is held by one that cannot be deleted."""
    for repo, branch in (("not-a-url", ""), (REPO, "-x"), ("https://github.com/a", "a..b")):
        where = {"owner": ALICE, "repo": repo, "branch": branch, "profile": "prod"}
        assert net.view("get_secrets", where) is None
        target = {"repo": repo, "branch": branch, "profile": "prod"}
        gone = net.call(ALICE, "delete_secrets", target)
        assert not gone.success and "no secrets stored" in (gone.failure or ""), gone.failure
