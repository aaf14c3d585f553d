"""NEAR actions, as localnet's receipts carry them."""

from __future__ import annotations

from dataclasses import dataclass, field

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


@dataclass
class AccessKey:
    nonce: int = 0
    function_call: FunctionCallPermission | None = None  # None: full access


@dataclass
class Account:
    amount: int
    locked: int = 0
    code: bytes = b""
    storage: dict[bytes, bytes] = field(default_factory=dict)
    access_keys: dict[bytes, AccessKey] = field(default_factory=dict)  # 32-byte ed25519 keys
