"""mTLS for every gRPC hop: a private CA, one certificate per service, refusal of strangers.

Each service presents its own certificate and trusts only the CA: a peer with no certificate, or
one from another CA, is refused during the TLS handshake. Certificates carry the service's name
(``<service>.outlayer.internal``) plus ``localhost`` and ``127.0.0.1``, and are good for both
server and client authentication, so one identity serves both directions.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from outlayer.config import TlsSettings
from outlayer.errors import ErrorCode, OutlayerError

DOMAIN = "outlayer.internal"
# "operator" is the identity of operators' command-line tools (outlayer compile, cache).
SERVICES = ("coordinator", "executor", "compiler", "keystore", "indexer", "edge", "operator")
CA_NAME = "ca"
VALIDITY = datetime.timedelta(days=825)


@dataclass(frozen=True)
class Identity:
    """A service's certificate and key, and the CA it trusts (PEM files)."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def _read(self) -> tuple[bytes, bytes, bytes]:
        try:
            return (
                self.ca_file.read_bytes(),
                self.cert_file.read_bytes(),
                self.key_file.read_bytes(),
            )
        except OSError as exc:
            raise OutlayerError(
                ErrorCode.CONFIGURATION,
                f"cannot read TLS file {exc.filename}: {exc.strerror}; "
                "`outlayer dev certs` creates a development CA and certificates",
            ) from None

    def server_credentials(self) -> grpc.ServerCredentials:
        ca, cert, key = self._read()
        return grpc.ssl_server_credentials([(key, cert)], root_certificates=ca,
                                           require_client_auth=True)  # fmt: skip

    def channel_credentials(self) -> grpc.ChannelCredentials:
        ca, cert, key = self._read()
        return grpc.ssl_channel_credentials(root_certificates=ca, private_key=key,
                                            certificate_chain=cert)  # fmt: skip


def identity_for(settings: TlsSettings, service: str) -> Identity | None:
    """The identity ``service`` presents, or None when mTLS is disabled."""
    if not settings.enabled:
        return None
    default = identity_in(settings.dir, service)
    return Identity(
        settings.ca_file or default.ca_file,
        settings.cert_file or default.cert_file,
        settings.key_file or default.key_file,
    )


def identity_in(directory: Path, service: str) -> Identity:
    return Identity(
        directory / f"{CA_NAME}.pem", directory / f"{service}.pem", directory / f"{service}.key"
    )


def ensure_dev_pki(directory: Path, services: tuple[str, ...] = SERVICES) -> list[str]:
    """Creates a development CA and a certificate per service where missing; returns what it
    created. Idempotent: existing files are kept."""
    directory.mkdir(parents=True, exist_ok=True)
    created: list[str] = []
    ca_cert_path, ca_key_path = directory / f"{CA_NAME}.pem", directory / f"{CA_NAME}.key"
    if not ca_cert_path.is_file() or not ca_key_path.is_file():
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _ca_certificate(ca_key, "OutLayer development CA")
        _write(ca_key_path, _key_pem(ca_key), private=True)
        _write(ca_cert_path, ca_cert.public_bytes(serialization.Encoding.PEM))
        created.append(CA_NAME)
    loaded = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
    if not isinstance(loaded, ec.EllipticCurvePrivateKey):
        raise OutlayerError(ErrorCode.CONFIGURATION, f"{ca_key_path} is not an EC private key")
    ca_key = loaded
    ca_cert = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
    for service in services:
        identity = identity_in(directory, service)
        if identity.cert_file.is_file() and identity.key_file.is_file():
            continue
        key, cert = issue_certificate(ca_cert, ca_key, service)
        _write(identity.key_file, _key_pem(key), private=True)
        _write(identity.cert_file, cert.public_bytes(serialization.Encoding.PEM))
        created.append(service)
    return created


def issue_certificate(
    ca_cert: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey, service: str
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    names = [
        x509.DNSName(f"{service}.{DOMAIN}"),
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{service}.{DOMAIN}")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def _ca_certificate(key: ec.EllipticCurvePrivateKey, name: str) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, private: bool = False) -> None:
    partial = path.with_suffix(path.suffix + ".tmp")
    partial.write_bytes(data)
    if private:
        partial.chmod(0o600)
    partial.replace(path)


def peer_service(context: grpc.ServicerContext) -> str | None:
    """The calling service's name from its verified certificate (None without mTLS)."""
    found: bytes | list[bytes] = context.auth_context().get("x509_common_name") or []
    names = [found] if isinstance(found, bytes) else list(found)
    for raw in names:
        name = raw.decode()
        if name.endswith("." + DOMAIN):
            return name[: -len(DOMAIN) - 1]
    return None


def uses_mtls(context: grpc.ServicerContext) -> bool:
    found: bytes | list[bytes] = context.auth_context().get("transport_security_type") or []
    return (found == b"ssl") if isinstance(found, bytes) else (b"ssl" in found)
