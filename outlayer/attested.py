"""The attested channel to the keystore (RA-TLS): trust its TLS key because its quote says so.

1. A TLS handshake (with our mesh certificate) shows the certificate the keystore serves.
2. A gRPC channel pinned to exactly that certificate asks for an attestation over a fresh nonce.
3. The quote must verify (Intel's chain and collateral, TCB status, the measurement allow-list)
   and its report_data must be SHA-256(that certificate's key || identity key) || nonce.
Only then is the channel used. A development attestation is refused unless the client was
configured to accept one.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from outlayer.attestation import Verdict, load_allowlist, verify_quote
from outlayer.config import AttestationSettings, TlsSettings
from outlayer.errors import ErrorCode, OutlayerError, error_from_rpc
from outlayer.grpcserver import GRPC_OPTIONS
from outlayer.telemetry import instrument
from outlayer.tls import DOMAIN, identity_for
from outlayer.v1 import keystore_pb2, keystore_pb2_grpc

SERVER_NAME = f"keystore.{DOMAIN}"
DEVELOPMENT_LABEL = "outlayer-development-attestation"
NONCE_BYTES = 32


@dataclass(frozen=True)
class AttestedKeystore:
    stub: keystore_pb2_grpc.KeystoreServiceStub
    identity: bytes  # the keystore's Ed25519 identity key, now vouched for by the attestation
    mode: str
    verdict: Verdict | None  # the TDX verdict (None in development mode)


def public_key_der(certificate_pem: bytes) -> bytes:
    cert = x509.load_pem_x509_certificate(certificate_pem)
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def binding(spki_der: bytes, identity: bytes) -> bytes:
    """The first half of report_data: the TLS key and the identity key the quote vouches for."""
    return hashlib.sha256(spki_der + identity).digest()


def development_statement(report_data: bytes) -> bytes:
    """What a development keystore returns instead of a quote: labelled, and worth nothing."""
    return json.dumps(
        {
            "type": DEVELOPMENT_LABEL,
            "warning": "NOT a TDX quote: this keystore runs without hardware protection",
            "report_data": report_data.hex(),
        },
        sort_keys=True,
    ).encode()


def check_attestation(
    attestation: keystore_pb2.Attestation,
    *,
    served_certificate_pem: bytes,
    nonce: bytes,
    policy: AttestationSettings,
) -> Verdict | None:
    """Raises PERMISSION_DENIED unless the attestation vouches for this certificate and nonce."""
    if attestation.tls_certificate_pem.encode() != served_certificate_pem:
        raise _refused("the attested certificate is not the one the keystore serves")
    try:
        identity = bytes.fromhex(attestation.identity)
    except ValueError:
        raise _refused("the identity key is not hexadecimal") from None
    expected = binding(public_key_der(served_certificate_pem), identity) + nonce
    if attestation.mode == "development":
        if not policy.accept_development:
            raise _refused(
                "the keystore offers only a development attestation (no TDX); set "
                "attestation.accept_development = true to accept it, in development only"
            )
        if attestation.quote != development_statement(expected):
            raise _refused("the development attestation does not bind this key and nonce")
        return None
    if attestation.mode != "tdx":
        raise _refused(f"unknown attestation mode {attestation.mode!r}")
    if policy.measurements_file is None:
        raise _refused(
            "no measurement allow-list is configured (attestation.measurements_file): "
            "a TDX keystore cannot be trusted without one"
        )
    verdict = verify_quote(
        attestation.quote,
        attestation.collateral_json,
        int(time.time()) if policy.verify_at is None else policy.verify_at,
        allowlist=load_allowlist(policy.measurements_file),
        expected_report_data=expected,
    )
    if not verdict.valid:
        raise _refused("the keystore's quote is not valid: " + "; ".join(verdict.reasons))
    return verdict


def served_certificate(target: str, tls: TlsSettings, me: str, timeout_s: float = 10) -> bytes:
    """The certificate a keystore presents, from a TLS handshake made with our mesh identity."""
    identity = identity_for(tls, me)
    if identity is None:
        raise OutlayerError(
            ErrorCode.CONFIGURATION,
            "the keystore is reached over attested TLS only; enable tls (tls.enabled = true)",
        )
    host, _, port = target.rpartition(":")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # trust comes from the attestation, checked next
    context.load_cert_chain(identity.cert_file, identity.key_file)
    context.set_alpn_protocols(["h2"])
    try:
        with (
            socket.create_connection((host, int(port)), timeout=timeout_s) as raw,
            context.wrap_socket(raw, server_hostname=SERVER_NAME) as conn,
        ):
            der = conn.getpeercert(binary_form=True)
    except (OSError, ValueError) as exc:
        raise OutlayerError(
            ErrorCode.UNAVAILABLE, f"the keystore at {target} did not answer over TLS: {exc}"
        ) from None
    if not der:
        raise _refused(f"the keystore at {target} presented no certificate")
    return x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)


def open_attested(
    target: str, tls: TlsSettings, me: str, policy: AttestationSettings
) -> tuple[grpc.Channel, AttestedKeystore]:
    """A channel to the keystore at ``target`` that has proven what it runs (close it after)."""
    pem = served_certificate(target, tls, me)
    identity = identity_for(tls, me)
    assert identity is not None  # served_certificate checked
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pem,
        private_key=identity.key_file.read_bytes(),
        certificate_chain=identity.cert_file.read_bytes(),
    )
    options = [*GRPC_OPTIONS, ("grpc.ssl_target_name_override", SERVER_NAME)]
    channel = instrument(grpc.secure_channel(target, credentials, options=options))
    try:
        stub = keystore_pb2_grpc.KeystoreServiceStub(channel)
        nonce = os.urandom(NONCE_BYTES)
        try:
            attestation = stub.GetAttestation(
                keystore_pb2.GetAttestationRequest(nonce=nonce.hex()), timeout=30
            )
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, f"the keystore at {target}") from None
        verdict = check_attestation(
            attestation, served_certificate_pem=pem, nonce=nonce, policy=policy
        )
    except BaseException:
        channel.close()
        raise
    attested = AttestedKeystore(
        stub, bytes.fromhex(attestation.identity), attestation.mode, verdict
    )
    return channel, attested


@contextmanager
def attested_keystore(
    target: str, tls: TlsSettings, me: str, policy: AttestationSettings
) -> Iterator[AttestedKeystore]:
    """An attested channel for one exchange (a job's secrets: a fresh attestation per job)."""
    channel, attested = open_attested(target, tls, me, policy)
    try:
        yield attested
    finally:
        channel.close()


class AttestedChannel:
    """A long-lived attested channel, for the edge's public keystore routes. It is attested on
    first use and again after a failure (a restarted keystore has a new key)."""

    def __init__(self, target: str, tls: TlsSettings, me: str, policy: AttestationSettings):
        self._args = (target, tls, me, policy)
        self._channel: grpc.Channel | None = None
        self._lock = threading.Lock()

    def get(self) -> grpc.Channel:
        with self._lock:
            if self._channel is None:
                self._channel, _ = open_attested(*self._args)
            return self._channel

    def reset(self) -> None:
        with self._lock:
            if self._channel is not None:
                self._channel.close()
            self._channel = None


def _refused(message: str) -> OutlayerError:
    return OutlayerError(ErrorCode.PERMISSION_DENIED, "keystore attestation refused: " + message)
