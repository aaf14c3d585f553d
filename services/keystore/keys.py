"""Keys: one master secret; per-repository key pairs derived from it; sealed-box encryption.

Each repository (and branch, when given) has its own X25519 key pair, derived as
``HMAC-SHA256(master, "outlayer/secrets/v1" || 0 || repo || 0 || branch)``: a leaked repository
key exposes no other repository and nothing about the master. Clients encrypt with the public
key alone (libsodium sealed boxes: X25519 + XSalsa20-Poly1305, authenticated), so only the
keystore can decrypt. The keystore signs the public keys it hands out with an Ed25519 identity
key, derived the same way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import sys
from pathlib import Path

import nacl.exceptions
import nacl.public
import nacl.signing

from outlayer import vrf
from outlayer.errors import ErrorCode, OutlayerError, invalid_argument
from outlayer.platform_env import RESERVED
from outlayer.repos import normalize_repo

MASTER_BYTES = 32
MAX_SECRETS_BYTES = 64 * 1024
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # as the dashboard checks (sealed.ts)


def _derive(master: bytes, purpose: bytes, *parts: str) -> bytes:
    message = purpose + b"".join(b"\x00" + part.encode() for part in parts)
    return hmac.new(master, message, hashlib.sha256).digest()


def repo_private_key(master: bytes, repo: str, branch: str | None = None) -> nacl.public.PrivateKey:
    """One key per repository however it is spelt (case, ".git", trailing "/"): derived from
    its normalised name."""
    name = normalize_repo(repo)
    return nacl.public.PrivateKey(_derive(master, b"outlayer/secrets/v1", name, branch or ""))


def vrf_secret_key(master: bytes) -> bytes:
    """The secret key guests' randomness is proven with (outlayer/vrf.py)."""
    return _derive(master, b"outlayer/vrf/v1")


def signed_vrf_key(master: bytes) -> dict[str, str]:
    """The VRF public key, signed by the keystore's identity (as repositories' keys are)."""
    public = vrf.public_key(vrf_secret_key(master)).hex()
    statement = json.dumps({"public_key": public, "suite": vrf.SUITE_NAME}, sort_keys=True)
    identity = identity_key(master)
    return {
        "suite": vrf.SUITE_NAME,
        "public_key": public,
        "signature": bytes(identity.sign(statement.encode()).signature).hex(),
        "identity": bytes(identity.verify_key).hex(),
    }


STORE_PREFIXES = ("project:", "repo:", "module:")


def storage_key(master: bytes, store: str) -> bytes:
    """The key one store of guests' storage is sealed with (services/executor/capabilities)."""
    if not store.startswith(STORE_PREFIXES) or len(store) > 400 or "\0" in store:
        raise invalid_argument(
            "store is project:OWNER/NAME, repo:URL or module:SHA256 (at most 400 characters)"
        )
    return _derive(master, b"outlayer/storage/v1", store)


def identity_key(master: bytes) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(_derive(master, b"outlayer/identity/v1"))


def signed_public_key(master: bytes, repo: str, branch: str | None = None) -> dict[str, str]:
    """What the public endpoint returns: the repo's key, signed by the keystore's identity, for
    the repository's normalised name."""
    repo = normalize_repo(repo)
    public = bytes(repo_private_key(master, repo, branch).public_key)
    statement = json.dumps({"repo": repo, "branch": branch or "", "public_key": public.hex()},
                           sort_keys=True).encode()  # fmt: skip
    identity = identity_key(master)
    return {
        "repo": repo,
        "branch": branch or "",
        "public_key": public.hex(),
        "signature": bytes(identity.sign(statement).signature).hex(),
        "identity": bytes(identity.verify_key).hex(),
    }


def encrypt_secrets(public_key: bytes, secrets: dict[str, str]) -> str:
    """The base64 blob that the contract's ``store_secrets`` takes."""
    for name, value in secrets.items():
        if "\0" in value:
            raise invalid_argument(f"the value of {name!r} holds a NUL byte, which no "
                                   "environment variable can")  # fmt: skip
        if not VARIABLE_NAME.fullmatch(name):
            raise invalid_argument(
                f"secret name {name!r} is not an environment variable name: use letters, "
                "digits and _ (not starting with a digit)"
            )
        if name in RESERVED:
            raise invalid_argument(
                f"{name} is set by the platform for every run and cannot be a secret; "
                "choose another name"
            )
    plain = json.dumps(secrets, sort_keys=True).encode()
    if len(plain) > MAX_SECRETS_BYTES:
        raise invalid_argument(f"secrets take {len(plain)} bytes; at most {MAX_SECRETS_BYTES}")
    box = nacl.public.SealedBox(nacl.public.PublicKey(public_key))
    return base64.b64encode(box.encrypt(plain)).decode()


def decrypt_secrets(private_key: nacl.public.PrivateKey, blob: str) -> dict[str, str]:
    try:
        plain = nacl.public.SealedBox(private_key).decrypt(base64.b64decode(blob, validate=True))
        secrets = json.loads(plain)
    except (nacl.exceptions.CryptoError, ValueError):
        raise invalid_argument(
            "the stored secrets cannot be decrypted with this repository's key (encrypted for "
            "another repository or branch, or damaged); encrypt them again for this repository"
        ) from None
    if not isinstance(secrets, dict):
        raise invalid_argument("the stored secrets are not a JSON object of names to values")
    reserved = sorted(name for name in secrets if name in RESERVED)
    if reserved:
        raise invalid_argument(
            f"the stored secrets set {', '.join(reserved)}, which the platform sets for every "
            "run; store them again without it"
        )
    return {str(k): str(v) for k, v in secrets.items()}


def development_master(path: Path) -> bytes:
    """A master secret kept in a file, for development only (in TDX it comes from the enclave's
    sealing key through the dstack guest agent). Created on first use."""
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(os.urandom(MASTER_BYTES))
    print(
        f"WARNING: development keystore master secret in {path}: NOT protected by TDX; "
        "anyone who can read this file can decrypt every secret",
        file=sys.stderr,
    )
    master = path.read_bytes()
    if len(master) != MASTER_BYTES:
        raise OutlayerError(ErrorCode.CONFIGURATION, f"{path} is not a {MASTER_BYTES}-byte key")
    return master
