"""localnet's account state."""

from __future__ import annotations

from dataclasses import dataclass, field

from outlayer.near.actions import FunctionCallPermission


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
