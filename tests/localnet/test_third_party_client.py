"""localnet driven by a third-party NEAR client (py-near), through that client's own flow:
status, access key (a bare base58 key, as py-near sends it), a view, a signed function call
and the transaction's status, each parsed by py-near's own models; and every malformed
parameter answered with a JSON-RPC error, never a dropped connection."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from py_near.account import Account  # type: ignore[import-untyped]
from py_near.models import TransactionResult  # type: ignore[import-untyped]

from devstack.demo import provision
from outlayer.near.keys import Signer, public_key_text
from outlayer.near.rpc import NearRpc
from tests.localnet_server import running_localnet


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Signer, Signer]]:
    tmp = tmp_path_factory.mktemp("py-near")
    with running_localnet(tmp) as (url, root):
        contract, _ = provision(NearRpc(url), root, tmp / "keys", lambda _: None)
        yield url, root, contract


def _secret(signer: Signer) -> bytes:
    return bytes(signer.key) + bytes(signer.key.verify_key)  # py-near's 64-byte key


async def _flow(url: str, root: Signer, contract: Signer) -> dict[str, Any]:
    account = Account(root.account_id, _secret(root), url)
    await account.startup()
    try:
        key = await account.get_access_key(account.signer)
        keys = await account.get_access_key_list()
        pricing = await account.view_function(contract.account_id, "get_pricing", {})
        outcome = await account.function_call(
            contract.account_id, "store_secrets",
            {"repo": "https://github.com/a/b", "profile": "py-near",
             "encrypted_secrets_base64": base64.b64encode(b"x" * 48).decode(),
             "access": {"AllowAll": {}}},
            amount=10**23,
        )  # fmt: skip
        assert isinstance(outcome, TransactionResult)
        tx_hash = outcome.transaction.hash
        again = await account.provider.get_tx(tx_hash, root.account_id)
        status = await account.provider.get_tx_status(tx_hash, root.account_id)
        return {"key": key, "keys": keys, "pricing": pricing, "outcome": outcome, "again": again,
                "status": status}  # fmt: skip
    finally:
        await account.shutdown()


def test_py_near_runs_its_own_flow_against_localnet(served: tuple[str, Signer, Signer]) -> None:
    url, root, contract = served
    got = asyncio.run(_flow(url, root, contract))
    assert got["key"].nonce > 0
    assert [k.public_key for k in got["keys"]] == [public_key_text(root.public_key)]
    assert isinstance(got["pricing"].result, dict) and got["pricing"].block_height > 0
    outcome: TransactionResult = got["outcome"]
    assert "SuccessValue" in outcome.status, outcome.status
    assert outcome.transaction.signer_id == root.account_id
    assert outcome.transaction.actions[0].method_name == "store_secrets"
    assert outcome.transaction_outcome.receipt_ids  # the transaction became a receipt
    assert all(not ro.error for ro in outcome.receipt_outcome)
    assert any(ro.gas_burnt > 0 for ro in outcome.receipt_outcome)
    for later in (got["again"], got["status"]):
        assert later.transaction.hash == outcome.transaction.hash
        assert later.status == outcome.status


def _rpc(url: str, method: str, params: Any) -> dict[str, Any]:
    answer = httpx.post(url, json={"jsonrpc": "2.0", "id": 7, "method": method,
                                   "params": params}, timeout=30)  # fmt: skip
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    assert body["id"] == 7
    return body


def test_a_bare_base58_key_is_read_as_ed25519(served: tuple[str, Signer, Signer]) -> None:
    url, root, _ = served
    prefixed = public_key_text(root.public_key)
    for key in (prefixed.removeprefix("ed25519:"), prefixed):
        view = _rpc(url, "query", {"request_type": "view_access_key", "finality": "final",
                                   "account_id": root.account_id, "public_key": key})  # fmt: skip
        assert view["result"]["permission"] == "FullAccess", view


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("query", {"request_type": "view_access_key", "account_id": "root", "public_key": "0OIl"}),
        ("query", {"request_type": "view_access_key", "account_id": "root", "public_key": "abc"}),
        (
            "query",
            {
                "request_type": "view_access_key",
                "account_id": "root",
                "public_key": "secp256k1:" + "1" * 40,
            },
        ),
        ("query", {"request_type": "view_access_key", "account_id": "root", "public_key": 5}),
        ("query", {"request_type": "view_access_key", "account_id": "root"}),
        (
            "query",
            {
                "request_type": "call_function",
                "account_id": "root",
                "method_name": "x",
                "args_base64": "%%%",
            },
        ),
        ("query", {"request_type": "teleport", "account_id": "root"}),
        ("query", [1, 2]),
        ("query", None),
        ("block", {"block_id": "0OIl"}),
        ("block", {"block_id": 1.5}),
        ("block", {"block_id": -3}),
        ("block", {"block_id": None}),
        ("block", "final"),
        ("chunk", {"chunk_id": "0OIl"}),
        ("chunk", {"chunk_id": 12}),
        ("tx", ["only-one"]),
        ("tx", {"tx_hash": "0OIl", "sender_account_id": "root"}),
        ("tx", {"sender_account_id": "root"}),
        ("tx", {"tx_hash": "1" * 32, "sender_account_id": "root", "wait_until": "SOON"}),
        ("tx", None),
        ("EXPERIMENTAL_tx_status", [5, 6]),
        ("send_tx", {"signed_tx_base64": 5}),
        ("send_tx", {"signed_tx_base64": "%%%", "wait_until": "FINAL"}),
        ("broadcast_tx_commit", []),
        ("broadcast_tx_async", {"signed_tx_base64": "x"}),
        (
            "EXPERIMENTAL_changes",
            {
                "changes_type": "data_changes",
                "account_ids": ["root"],
                "key_prefix_base64": "%%%",
                "finality": "final",
            },
        ),
        ("EXPERIMENTAL_changes", {"changes_type": "data_changes", "account_ids": "root"}),
        (5, {}),
        (None, {}),
    ],
)
def test_every_malformed_parameter_gets_a_json_rpc_error(
    served: tuple[str, Signer, Signer], method: Any, params: Any
) -> None:
    url, root, _ = served
    if isinstance(params, dict) and params.get("account_id") == "root":
        params = {**params, "account_id": root.account_id}
    body = _rpc(url, method, params)
    assert "result" not in body, body
    error = body["error"]
    assert error["name"] in ("REQUEST_VALIDATION_ERROR", "HANDLER_ERROR"), error
    assert error["cause"]["name"] and error["cause"]["info"], error
    assert isinstance(error["data"], str) and error["data"], error


@pytest.mark.parametrize("length", ["-1", "abc", "99999999999"])
def test_a_bad_content_length_gets_an_error_not_a_hang(
    served: tuple[str, Signer, Signer], length: str
) -> None:
    import socket

    url, _, _ = served
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(f"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n{{}}".encode())
        chunks = []
        while chunk := conn.recv(65536):  # HTTP/1.0: the server closes after its answer
            chunks.append(chunk)
        reply = b"".join(chunks).decode(errors="replace")
    assert reply.startswith("HTTP/1.0 200") or reply.startswith("HTTP/1.1 200"), reply
    assert '"error"' in reply
