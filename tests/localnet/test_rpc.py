"""localnet's NEAR JSON-RPC with our client: signed transactions, views, errors, the demo."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import nacl.signing
import pytest

from devstack.demo import run_demo
from outlayer.config import Settings
from outlayer.near.actions import (
    Action,
    AddKeyAction,
    CreateAccountAction,
    FunctionCallAction,
    TransferAction,
)
from outlayer.near.borsh import SignedTransaction, Transaction
from outlayer.near.keys import Signer
from outlayer.near.rpc import NearRpc, NearRpcError
from tests.localnet_server import running_localnet

NEAR = 10**24


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Signer, Path]]:
    with running_localnet(tmp_path) as (url, root):
        yield url, root, tmp_path / "root.json"


def new_account(rpc: NearRpc, root: Signer, name: str, amount: int = 10 * NEAR) -> Signer:
    signer = Signer(f"{name}.{root.account_id}", nacl.signing.SigningKey.generate())
    actions: list[Action] = [
        CreateAccountAction(),
        TransferAction(amount),
        AddKeyAction(signer.public_key, 0),
    ]
    outcome = rpc.send(root, signer.account_id, actions)
    assert outcome.failure is None
    return signer


def test_demo_runs_one_request_end_to_end(
    served: tuple[str, Signer, Path], settings: Settings
) -> None:
    url, _, key_file = served
    result = run_demo(url, key_file, '{"q": 1}', settings, log=lambda _: None)
    assert result["status"] == "success"
    assert result["output"]["input"] == '{"q": 1}'
    assert result["output"]["env_names"] == ["NEAR_REQUEST_ID", "NEAR_SENDER_ID"]
    assert result["resources_used"]["instructions"] > 0
    # The accounts and the contract are reused.
    again = run_demo(url, key_file, "two", settings, log=lambda _: None)
    assert again["request_id"] == result["request_id"] + 1


def test_accounts_transfers_and_views(served: tuple[str, Signer, Path]) -> None:
    url, root, _ = served
    rpc = NearRpc(url)
    alice = new_account(rpc, root, "alice")
    bob = new_account(rpc, root, "bob")
    outcome = rpc.send(alice, bob.account_id, [TransferAction(3 * NEAR)])
    assert outcome.failure is None and outcome.raw["final_execution_status"] == "FINAL"
    assert int(rpc.view_account(bob.account_id)["amount"]) == 13 * NEAR
    assert int(rpc.view_account(alice.account_id)["amount"]) == 7 * NEAR
    with pytest.raises(NearRpcError) as missing:
        rpc.view_account("nobody.localnet")
    assert missing.value.cause == "UNKNOWN_ACCOUNT"


def test_transactions_appear_in_blocks_and_chunks(served: tuple[str, Signer, Path]) -> None:
    url, root, _ = served
    rpc = NearRpc(url)
    alice = new_account(rpc, root, "alice")
    outcome = rpc.send(alice, root.account_id, [TransferAction(1)])
    block_hash = outcome.raw["receipts_outcome"][0]["block_hash"]
    block = rpc.call("block", {"block_id": block_hash})
    chunk = rpc.chunk(block["chunks"][0]["chunk_hash"])
    assert outcome.tx_hash in [tx["hash"] for tx in chunk["transactions"]]
    assert rpc.block(block["header"]["height"])["header"]["hash"] == block_hash


def test_bad_signature_nonce_and_block_hash_are_refused(served: tuple[str, Signer, Path]) -> None:
    url, root, _ = served
    rpc = NearRpc(url)
    alice = new_account(rpc, root, "alice")
    head = bytes(__import__("base58").b58decode(rpc.block()["header"]["hash"]))

    def submit(tx: Transaction, signer: Signer) -> NearRpcError:
        signed = SignedTransaction(tx, signer.sign(tx.hash()))
        with pytest.raises(NearRpcError) as raised:
            rpc.call("send_tx", {"signed_tx_base64": base64.b64encode(signed.encode()).decode(),
                                 "wait_until": "FINAL"})  # fmt: skip
        return raised.value

    transfer = [TransferAction(1)]
    forged = submit(Transaction(alice.account_id, alice.public_key, 100, root.account_id, head,
                                transfer), root)  # fmt: skip
    assert "InvalidSignature" in forged.message
    rpc.send(alice, root.account_id, transfer)  # nonce 1 used
    reused = [TransferAction(2)]  # a different transaction with the used nonce
    replay = submit(Transaction(alice.account_id, alice.public_key, 1, root.account_id, head,
                                reused), alice)  # fmt: skip
    assert "InvalidNonce" in replay.message
    stale = submit(Transaction(alice.account_id, alice.public_key, 50, root.account_id,
                               bytes(32), transfer), alice)  # fmt: skip
    assert "Expired" in stale.message
    poor = submit(Transaction(alice.account_id, alice.public_key, 51, root.account_id, head,
                              [TransferAction(10**30)]), alice)  # fmt: skip
    assert "NotEnoughBalance" in poor.message


def test_function_call_keys_can_only_call_what_they_allow(served: tuple[str, Signer, Path]) -> None:
    url, root, _ = served
    rpc = NearRpc(url)
    alice = new_account(rpc, root, "alice")
    limited = Signer(alice.account_id, nacl.signing.SigningKey.generate())
    add = AddKeyAction(limited.public_key, 0, (None, "outlayer.localnet", ["resolve_execution"]))
    assert rpc.send(alice, alice.account_id, [add]).failure is None
    with pytest.raises(NearRpcError, match="function-call key can only call"):
        rpc.send(limited, root.account_id, [TransferAction(1)])
    with pytest.raises(NearRpcError, match=r"may only call outlayer\.localnet"):
        rpc.send(
            limited, root.account_id, [FunctionCallAction("resolve_execution", b"{}", 10**13, 0)]
        )
    with pytest.raises(NearRpcError, match="may not call new"):
        rpc.send(limited, "outlayer.localnet", [FunctionCallAction("new", b"{}", 10**13, 0)])


def test_malformed_requests_get_parse_errors(served: tuple[str, Signer, Path]) -> None:
    url, _, _ = served
    answer = httpx.post(url, content=b"{not json").json()
    assert answer["error"]["cause"]["name"] == "PARSE_ERROR"
    answer = httpx.post(
        url, json={"jsonrpc": "2.0", "id": 1, "method": "nope", "params": {}}
    ).json()
    assert answer["error"]["cause"]["name"] == "METHOD_NOT_FOUND"
    rpc = NearRpc(url)
    with pytest.raises(NearRpcError) as raised:
        rpc.call("broadcast_tx_async", [base64.b64encode(b"garbage").decode()])
    assert raised.value.cause == "PARSE_ERROR"
    with pytest.raises(NearRpcError) as unknown:
        rpc.tx_status("11111111111111111111111111111111", "x")
    assert unknown.value.cause == "UNKNOWN_TRANSACTION"


def test_view_call_errors_are_reported_not_raised_by_the_node(
    served: tuple[str, Signer, Path],
) -> None:
    url, root, _ = served
    rpc = NearRpc(url)
    with pytest.raises(NearRpcError) as raised:
        rpc.view(root.account_id, "anything")
    assert "CodeDoesNotExist" in raised.value.message
    assert json.dumps(rpc.call("status", [])["chain_id"]) == '"localnet"'
