"""The keystore's public endpoints as a client reaches them over HTTPS (through the edge):
its attestation for a fresh nonce, and repositories' public keys signed by its identity.

Over HTTPS the TLS session ends at the edge, so what the attestation vouches for here is the
keystore's identity key (bound in report_data with its TLS key): a public key is trusted when
that attested identity signed it.
"""

from __future__ import annotations

import json
import os
import ssl
from pathlib import Path
from typing import Any

import httpx
import nacl.exceptions
import nacl.signing
from google.protobuf import json_format

from outlayer.attestation import Verdict
from outlayer.attested import NONCE_BYTES, check_attestation
from outlayer.config import AttestationSettings
from outlayer.errors import ErrorCode, OutlayerError, invalid_argument
from outlayer.repos import normalize_repo
from outlayer.v1 import keystore_pb2


class KeystoreOverHttps:
    def __init__(self, base_url: str, cacert: Path | None = None, timeout_s: float = 30) -> None:
        self._base = base_url.rstrip("/")
        if not self._base.startswith("https://"):
            raise invalid_argument(f"the keystore is reached over https://, not {base_url!r}")
        verify: ssl.SSLContext | bool = True
        if cacert is not None:
            try:
                verify = ssl.create_default_context(cafile=str(cacert))
            except (OSError, ssl.SSLError) as exc:  # missing, unreadable, not PEM
                reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
                raise invalid_argument(
                    f"{cacert} is not a CA certificate in PEM ({reason}); give the edge's CA "
                    "(a development stack's is DIR/pki/ca.pem)"
                ) from None
        self._http = httpx.Client(verify=verify, timeout=timeout_s)

    def attestation(self, nonce: bytes) -> keystore_pb2.Attestation:
        body = self._get("/attestation", {"nonce": nonce.hex()})
        return json_format.ParseDict(body, keystore_pb2.Attestation(), ignore_unknown_fields=True)

    def attested_identity(self, policy: AttestationSettings) -> tuple[bytes, Verdict | None]:
        """The keystore's identity key, once its attestation for our nonce checks out."""
        nonce = os.urandom(NONCE_BYTES)
        attestation = self.attestation(nonce)
        verdict = check_attestation(
            attestation,
            served_certificate_pem=attestation.tls_certificate_pem.encode(),
            nonce=nonce,
            policy=policy,
        )
        return bytes.fromhex(attestation.identity), verdict

    def public_key(self, repo: str, branch: str | None, identity: bytes) -> bytes:
        """The repository's key, after checking the attested identity signed it."""
        body = self._get("/secrets/public-key", {"repo": repo, "branch": branch or ""})
        key = json_format.ParseDict(body, keystore_pb2.RepoPublicKey())
        statement = json.dumps(
            {"repo": key.repo, "branch": key.branch, "public_key": key.public_key},
            sort_keys=True,
        ).encode()
        try:
            # The keystore answers for the repository's normalised name (outlayer.repos).
            if key.repo != normalize_repo(repo) or key.branch != (branch or ""):
                raise ValueError("the key is for another repository or branch")
            nacl.signing.VerifyKey(identity).verify(statement, bytes.fromhex(key.signature))
        except (ValueError, nacl.exceptions.BadSignatureError) as exc:
            raise OutlayerError(
                ErrorCode.PERMISSION_DENIED,
                f"the repository key is not signed by the attested keystore ({exc}); do not "
                "encrypt to it",
            ) from None
        return bytes.fromhex(key.public_key)

    def vrf_public_key(self, identity: bytes) -> bytes:
        """The key guests' randomness is proven with, after checking the attested identity
        signed it."""
        body = self._get("/vrf/public-key", {})
        key = json_format.ParseDict(body, keystore_pb2.VrfPublicKey())
        statement = json.dumps({"public_key": key.public_key, "suite": key.suite},
                               sort_keys=True).encode()  # fmt: skip
        try:
            nacl.signing.VerifyKey(identity).verify(statement, bytes.fromhex(key.signature))
        except (ValueError, nacl.exceptions.BadSignatureError) as exc:
            raise OutlayerError(
                ErrorCode.PERMISSION_DENIED,
                f"the VRF key is not signed by the attested keystore ({exc}); do not trust it",
            ) from None
        return bytes.fromhex(key.public_key)

    def _get(self, path: str, params: dict[str, str]) -> Any:
        try:
            response = self._http.get(self._base + path, params=params)
        except httpx.HTTPError as exc:
            raise OutlayerError(
                ErrorCode.UNAVAILABLE, f"{self._base} did not answer ({exc}); is the edge up?"
            ) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code != 200:
            message = body.get("message") if isinstance(body, dict) else None
            raise OutlayerError(
                ErrorCode.UNAVAILABLE,
                f"{self._base}{path} answered {response.status_code}: {message or response.text}",
            )
        return body
