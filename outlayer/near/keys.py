"""NEAR ed25519 keys in their text form (``ed25519:<base58>``) and key files."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import base58
import nacl.signing

from outlayer.errors import invalid_argument

PREFIX = "ed25519:"


def public_key_text(key: bytes) -> str:
    return PREFIX + base58.b58encode(key).decode()


def parse_public_key(text: str) -> bytes:
    if not text.startswith(PREFIX):
        raise invalid_argument(f"public key {text!r} must start with {PREFIX}")
    raw = base58.b58decode(text[len(PREFIX) :])
    if len(raw) != 32:
        raise invalid_argument(f"public key {text!r} is not 32 bytes")
    return bytes(raw)


@dataclass(frozen=True)
class Signer:
    """An account and the key it signs with."""

    account_id: str
    key: nacl.signing.SigningKey

    @property
    def public_key(self) -> bytes:
        return bytes(self.key.verify_key)

    def sign(self, message: bytes) -> bytes:
        return bytes(self.key.sign(message).signature)

    def to_json(self) -> dict[str, str]:
        """The layout of NEAR CLI key files (``~/.near-credentials``)."""
        secret = bytes(self.key) + self.public_key
        return {
            "account_id": self.account_id,
            "public_key": public_key_text(self.public_key),
            "private_key": PREFIX + base58.b58encode(secret).decode(),
        }

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Signer:
        secret = data.get("private_key") or data.get("secret_key") or ""
        if not secret.startswith(PREFIX):
            raise invalid_argument("key file: private_key must start with ed25519:")
        raw = base58.b58decode(secret[len(PREFIX) :])
        return cls(data["account_id"], nacl.signing.SigningKey(bytes(raw[:32])))

    @classmethod
    def load(cls, path: Path) -> Signer:
        try:
            return cls.from_json(json.loads(path.read_text()))
        except (OSError, ValueError, KeyError) as exc:
            raise invalid_argument(f"cannot read key file {path}: {exc}") from None

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2))
        path.chmod(0o600)
