"""Access conditions, evaluated against localnet (balances, tokens) and with hostile patterns."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.demo import account
from outlayer.near.actions import DeployContractAction
from outlayer.near.rpc import NearRpc
from services.keystore.access import RpcChainView, evaluate
from tests.conftest import built_contract
from tests.localnet_server import running_localnet

NEAR = 10**24


class Tokens:
    """An in-memory chain, for the combinations of rules (the chain's reads are tested against
    localnet below)."""

    def near_balance(self, account_id: str) -> int:
        return 5 * NEAR if account_id == "rich.test" else 0

    def ft_balance(self, contract_id: str, account_id: str) -> int:
        return 0

    def nft_owned(self, contract_id: str, account_id: str, token_id: str | None) -> bool:
        return (
            contract_id == "nft.test" and account_id == "collector.test" and token_id in (None, "7")
        )


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RpcChainView, str, str]]:
    """localnet with a NEP-141 token (holder has 1000) and a NEP-171 collection (collector owns
    token 7)."""
    directory: Path = tmp_path_factory.mktemp("access")
    with running_localnet(directory) as (url, root):
        rpc = NearRpc(url)
        token = account(rpc, root, "usdc", directory, lambda _: None)
        holder = account(rpc, root, "holder", directory, lambda _: None)
        rpc.send(token, token.account_id, [DeployContractAction(built_contract("test_token"))])
        rpc.function_call(token, token.account_id, "new",
                          {"owner_id": holder.account_id, "total_supply": "1000"})  # fmt: skip
        nft = account(rpc, root, "art", directory, lambda _: None)
        collector = account(rpc, root, "collector", directory, lambda _: None)
        rpc.send(nft, nft.account_id, [DeployContractAction(built_contract("test_nft"))])
        rpc.function_call(nft, nft.account_id, "new", {"owner_id": nft.account_id})
        rpc.function_call(nft, nft.account_id, "nft_mint",
                          {"token_id": "7", "receiver_id": collector.account_id})  # fmt: skip
        yield RpcChainView(rpc), token.account_id, nft.account_id


def test_balances_are_read_from_the_chain(chain: tuple[RpcChainView, str, str]) -> None:
    view, token, _ = chain
    rich = {"NearBalance": {"min_balance": str(10 * NEAR)}}
    assert evaluate(rich, "holder.localnet", view).allowed  # created with 50 NEAR
    assert not evaluate(rich, "nobody.localnet", view).allowed
    holds = {"FtBalance": {"contract_id": token, "min_balance": "1000"}}
    assert evaluate(holds, "holder.localnet", view).allowed
    decision = evaluate(holds, "usdc.localnet", view)
    assert not decision.allowed and "holds 0" in decision.reason


def test_nft_ownership_is_read_from_the_chain(chain: tuple[RpcChainView, str, str]) -> None:
    view, _, nft = chain
    any_token = {"NftOwned": {"contract_id": nft}}
    token_7 = {"NftOwned": {"contract_id": nft, "token_id": "7"}}
    token_8 = {"NftOwned": {"contract_id": nft, "token_id": "8"}}
    assert evaluate(any_token, "collector.localnet", view).allowed  # nft_tokens_for_owner
    assert evaluate(token_7, "collector.localnet", view).allowed  # nft_token
    assert not evaluate(token_8, "collector.localnet", view).allowed  # no such token
    assert not evaluate(any_token, "holder.localnet", view).allowed
    assert not evaluate(token_7, "holder.localnet", view).allowed


def test_logic_combines_conditions() -> None:
    chain = Tokens()
    not_a_bot = {
        "Logic": {"operator": "Not", "conditions": [{"AccountPattern": {"pattern": r".*\.bot"}}]}
    }
    vip = {"Logic": {"operator": "Or", "conditions": [
        {"Whitelist": {"accounts": ["alice.test"]}},
        {"Logic": {"operator": "And", "conditions": [
            {"NftOwned": {"contract_id": "nft.test", "token_id": "7"}}, not_a_bot,
        ]}},
    ]}}  # fmt: skip
    assert evaluate(vip, "alice.test", chain).allowed
    assert evaluate(vip, "collector.test", chain).allowed
    assert not evaluate(vip, "someone.test", chain).allowed
    assert evaluate({"NftOwned": {"contract_id": "nft.test"}}, "collector.test", chain).allowed
    assert not evaluate(
        {"NftOwned": {"contract_id": "other.test"}}, "collector.test", chain
    ).allowed


def test_a_pathological_pattern_times_out_and_denies() -> None:
    decision = evaluate({"AccountPattern": {"pattern": "(a|aa)+$"}}, "a" * 60 + "b", Tokens())
    assert not decision.allowed and "took too long" in decision.reason


def test_malformed_conditions_deny() -> None:
    conditions: list[dict[str, object]] = [{}, {"AllowAll": {}, "Whitelist": {}}, {"Nope": {}},
                      {"AccountPattern": {"pattern": "("}},
                      {"Logic": {"operator": "Not", "conditions": []}}]  # fmt: skip
    for condition in conditions:
        assert not evaluate(condition, "a.test", Tokens()).allowed, condition
    deep: dict[str, object] = {"AllowAll": {}}
    for _ in range(10):
        deep = {"Logic": {"operator": "And", "conditions": [deep]}}
    assert not evaluate(deep, "a.test", Tokens()).allowed


def test_no_condition_means_the_owner_alone() -> None:
    """Defence in depth: the contract stores a condition, but a record without one is the
    owner's only, never everyone's."""
    chain = Tokens()
    assert evaluate(None, "alice.near", chain, owner="alice.near").allowed
    refused = evaluate(None, "mallory.near", chain, owner="alice.near")
    assert not refused.allowed and "only the owner alice.near" in refused.reason
    assert not evaluate(None, "alice.near", chain).allowed  # no owner known: nobody
