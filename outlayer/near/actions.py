"""NEAR actions: what a transaction or a receipt asks an account to do."""

from __future__ import annotations

from dataclasses import dataclass

# (allowance or None for unlimited, receiver_id, method names) for a function-call access key
FunctionCallPermission = tuple[int | None, str, list[str]]


@dataclass(frozen=True)
class CreateAccountAction:
    pass


@dataclass(frozen=True)
class DeployContractAction:
    code: bytes


@dataclass(frozen=True)
class FunctionCallAction:
    method_name: str
    args: bytes
    gas: int
    deposit: int
    gas_weight: int = 0


@dataclass(frozen=True)
class TransferAction:
    deposit: int


@dataclass(frozen=True)
class AddKeyAction:
    public_key: bytes  # borsh PublicKey (key type byte + 32 bytes) or a raw 32-byte key
    nonce: int
    function_call: FunctionCallPermission | None = None


@dataclass(frozen=True)
class DeleteKeyAction:
    public_key: bytes


@dataclass(frozen=True)
class DeleteAccountAction:
    beneficiary_id: str


Action = (
    CreateAccountAction
    | DeployContractAction
    | FunctionCallAction
    | TransferAction
    | AddKeyAction
    | DeleteKeyAction
    | DeleteAccountAction
)
