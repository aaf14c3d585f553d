"""Our borsh encoding of transactions is byte-for-byte NEAR's (checked against its Rust types)."""

from __future__ import annotations

import hashlib

import nacl.signing
import py_near_primitives as near_rs
import pytest

from outlayer.near.actions import (
    Action,
    AddKeyAction,
    CreateAccountAction,
    DeleteAccountAction,
    DeleteKeyAction,
    DeployContractAction,
    FunctionCallAction,
    TransferAction,
)
from outlayer.near.borsh import BorshError, SignedTransaction, Transaction

KEY = bytes(nacl.signing.SigningKey(b"\x01" * 32).verify_key)
OTHER = bytes(nacl.signing.SigningKey(b"\x02" * 32).verify_key)
BLOCK = hashlib.sha256(b"block").digest()

OURS: list[Action] = [
    CreateAccountAction(),
    TransferAction(10**24 + 7),
    DeployContractAction(b"\0asm code"),
    FunctionCallAction("request_execution", b'{"a": 1}', 300 * 10**12, 5),
    AddKeyAction(OTHER, 3),
    AddKeyAction(OTHER, 0, (10**20, "outlayer.test", ["resolve_execution", "x"])),
    AddKeyAction(OTHER, 0, (None, "outlayer.test", [])),
    DeleteKeyAction(OTHER),
    DeleteAccountAction("beneficiary.test"),
]
THEIRS = [
    near_rs.CreateAccountAction(),
    near_rs.TransferAction(10**24 + 7),
    near_rs.DeployContractAction(b"\0asm code"),
    near_rs.FunctionCallAction("request_execution", b'{"a": 1}', 300 * 10**12, 5),
    near_rs.AddKeyAction(
        OTHER, near_rs.AccessKey(3, near_rs.AccessKeyPermissionFieldless.FullAccess)
    ),
    near_rs.AddKeyAction(
        OTHER,
        near_rs.AccessKey(
            0, near_rs.FunctionCallPermission("outlayer.test", ["resolve_execution", "x"], 10**20)
        ),
    ),
    near_rs.AddKeyAction(
        OTHER, near_rs.AccessKey(0, near_rs.FunctionCallPermission("outlayer.test", []))
    ),
    near_rs.DeleteKeyAction(OTHER),
    near_rs.DeleteAccountAction("beneficiary.test"),
]


@pytest.mark.parametrize("index", range(len(OURS)))
def test_each_action_encodes_like_nearcore(index: int) -> None:
    ours = Transaction("alice.test", KEY, 9, "outlayer.test", BLOCK, [OURS[index]])
    theirs = near_rs.Transaction("alice.test", KEY, 9, "outlayer.test", BLOCK, [THEIRS[index]])
    assert ours.encode() == bytes(theirs.serialize())


def test_signed_transaction_round_trips_and_matches_nearcore() -> None:
    signer = nacl.signing.SigningKey(b"\x01" * 32)
    tx = Transaction("alice.test", KEY, 2**40, "outlayer.test", BLOCK, OURS)
    signature = bytes(signer.sign(tx.hash()).signature)
    signed = SignedTransaction(tx, signature)
    theirs = near_rs.SignedTransaction(
        signature, near_rs.Transaction("alice.test", KEY, 2**40, "outlayer.test", BLOCK, THEIRS)
    )
    assert signed.encode() == bytes(theirs.serialize())
    assert SignedTransaction.decode(signed.encode()) == signed
    assert tx.hash() == bytes(theirs.hash)


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda b: b[:-10], "end too early"),
        (lambda b: b + b"\0", "unexpected bytes"),
        (lambda b: b[:14] + b"\x01" + b[15:], "only ed25519 keys"),
    ],
)
def test_malformed_bytes_are_refused(mangle: object, message: str) -> None:
    tx = Transaction("alice.test", KEY, 1, "bob.test", BLOCK, [TransferAction(1)])
    data = SignedTransaction(tx, bytes(64)).encode()
    with pytest.raises(BorshError, match=message):
        SignedTransaction.decode(mangle(data))  # type: ignore[operator]
