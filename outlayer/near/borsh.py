"""Borsh encoding of NEAR transactions (the subset of actions OutLayer and localnet use).

Layouts follow nearcore's ``Transaction`` (V0) and ``SignedTransaction``; the tests check them
byte for byte against NEAR's own Rust primitives (py-near-primitives).
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass

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

ED25519 = 0


class BorshError(ValueError):
    pass


@dataclass(frozen=True)
class Transaction:
    signer_id: str
    public_key: bytes  # 32-byte ed25519
    nonce: int
    receiver_id: str
    block_hash: bytes  # 32 bytes
    actions: Sequence[Action]

    def encode(self) -> bytes:
        out = bytearray()
        _string(out, self.signer_id)
        out += bytes([ED25519]) + _exact(self.public_key, 32, "public key")
        out += struct.pack("<Q", self.nonce)
        _string(out, self.receiver_id)
        out += _exact(self.block_hash, 32, "block hash")
        out += struct.pack("<I", len(self.actions))
        for action in self.actions:
            _action(out, action)
        return bytes(out)

    def hash(self) -> bytes:
        return hashlib.sha256(self.encode()).digest()


@dataclass(frozen=True)
class SignedTransaction:
    transaction: Transaction
    signature: bytes  # 64-byte ed25519

    def encode(self) -> bytes:
        return (
            self.transaction.encode() + bytes([ED25519]) + _exact(self.signature, 64, "signature")
        )

    @classmethod
    def decode(cls, data: bytes) -> SignedTransaction:
        reader = _Reader(data)
        tx = Transaction(
            signer_id=reader.string(),
            public_key=reader.public_key(),
            nonce=reader.u64(),
            receiver_id=reader.string(),
            block_hash=reader.take(32),
            actions=[reader.action() for _ in range(reader.u32())],
        )
        if reader.u8() != ED25519:
            raise BorshError("only ed25519 signatures are supported")
        signature = reader.take(64)
        reader.end()
        return cls(tx, signature)


def _exact(value: bytes, size: int, what: str) -> bytes:
    if len(value) != size:
        raise BorshError(f"{what} must be {size} bytes, got {len(value)}")
    return value


def _string(out: bytearray, value: str) -> None:
    _bytes(out, value.encode())


def _bytes(out: bytearray, value: bytes) -> None:
    out += struct.pack("<I", len(value)) + value


def _u128(value: int) -> bytes:
    return value.to_bytes(16, "little")


def _action(out: bytearray, action: Action) -> None:
    if isinstance(action, CreateAccountAction):
        out.append(0)
    elif isinstance(action, DeployContractAction):
        out.append(1)
        _bytes(out, action.code)
    elif isinstance(action, FunctionCallAction):
        out.append(2)
        _string(out, action.method_name)
        _bytes(out, action.args)
        out += struct.pack("<Q", action.gas) + _u128(action.deposit)
    elif isinstance(action, TransferAction):
        out.append(3)
        out += _u128(action.deposit)
    elif isinstance(action, AddKeyAction):
        out.append(5)
        out += bytes([ED25519]) + _exact(action.public_key[-32:], 32, "public key")
        out += struct.pack("<Q", action.nonce)
        if action.function_call is None:
            out.append(1)  # FullAccess
        else:
            allowance, receiver, methods = action.function_call
            out.append(0)  # FunctionCall
            if allowance is None:
                out.append(0)
            else:
                out.append(1)
                out += _u128(allowance)
            _string(out, receiver)
            out += struct.pack("<I", len(methods))
            for method in methods:
                _string(out, method)
    elif isinstance(action, DeleteKeyAction):
        out.append(6)
        out += bytes([ED25519]) + _exact(action.public_key[-32:], 32, "public key")
    elif isinstance(action, DeleteAccountAction):
        out.append(7)
        _string(out, action.beneficiary_id)
    else:  # pragma: no cover - Action is a closed union
        raise BorshError(f"cannot encode {action!r}")


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._at = 0

    def take(self, size: int) -> bytes:
        if self._at + size > len(self._data):
            raise BorshError("transaction bytes end too early")
        chunk = self._data[self._at : self._at + size]
        self._at += size
        return chunk

    def end(self) -> None:
        if self._at != len(self._data):
            raise BorshError(f"{len(self._data) - self._at} unexpected bytes after the transaction")

    def u8(self) -> int:
        return self.take(1)[0]

    def u32(self) -> int:
        value: int = struct.unpack("<I", self.take(4))[0]
        return value

    def u64(self) -> int:
        value: int = struct.unpack("<Q", self.take(8))[0]
        return value

    def u128(self) -> int:
        return int.from_bytes(self.take(16), "little")

    def bytes_(self) -> bytes:
        return self.take(self.u32())

    def string(self) -> str:
        try:
            return self.bytes_().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BorshError("a string is not valid UTF-8") from exc

    def public_key(self) -> bytes:
        if self.u8() != ED25519:
            raise BorshError("only ed25519 keys are supported")
        return self.take(32)

    def action(self) -> Action:
        kind = self.u8()
        if kind == 0:
            return CreateAccountAction()
        if kind == 1:
            return DeployContractAction(self.bytes_())
        if kind == 2:
            return FunctionCallAction(self.string(), self.bytes_(), self.u64(), self.u128())
        if kind == 3:
            return TransferAction(self.u128())
        if kind == 5:
            key, nonce = self.public_key(), self.u64()
            if self.u8() == 1:
                return AddKeyAction(key, nonce)
            allowance = self.u128() if self.u8() == 1 else None
            receiver = self.string()
            methods = [self.string() for _ in range(self.u32())]
            return AddKeyAction(key, nonce, (allowance, receiver, methods))
        if kind == 6:
            return DeleteKeyAction(self.public_key())
        if kind == 7:
            return DeleteAccountAction(self.string())
        raise BorshError(f"action kind {kind} is not supported by localnet")
