"""A TDX quote and collateral under a test root CA: the real quote's TD report and Intel's real
TCB info, re-signed by a PKI made here (root, PCK Platform CA, PCK certificate with the real
one's SGX extension, TCB signing certificate, both CRLs). Only with such a PKI can the tests
reach what Intel's own signatures make unforgeable: a revoked serial, TCB info for another
platform, an out-of-date TCB level, a quote that binds keys of our choosing."""

from __future__ import annotations

import datetime
import hashlib
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

SGX_EXTENSION = x509.ObjectIdentifier("1.2.840.113741.1.13.1")
UTC = datetime.UTC
# Intel's collateral in the test vectors runs from 2025-06-19 to 2025-07-19.
THIS_UPDATE = datetime.datetime(2025, 6, 20, tzinfo=UTC)
NEXT_UPDATE = datetime.datetime(2025, 7, 19, tzinfo=UTC)


def raw_signature(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def raw_point(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )[1:]


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


@dataclass
class Ca:
    name: str
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    cert: x509.Certificate | None = None

    def subject(self) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.name)])


def issue(subject: Ca, issuer: Ca, *, ca: bool, extension: bytes | None = None) -> None:
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject.subject())
        .issuer_name(issuer.subject())
        .public_key(subject.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.datetime(2025, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime.datetime(2032, 1, 1, tzinfo=UTC))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if extension is not None:
        builder = builder.add_extension(x509.UnrecognizedExtension(SGX_EXTENSION, extension), False)
    subject.cert = builder.sign(issuer.key, hashes.SHA256())


def crl(issuer: Ca, revoked: list[int]) -> bytes:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject())
        .last_update(THIS_UPDATE)
        .next_update(NEXT_UPDATE)
        .add_extension(x509.CRLNumber(1), critical=False)  # webpki (dcap-qvl) requires both
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()), False
        )
    )
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(THIS_UPDATE)
            .build()
        )
    return builder.sign(issuer.key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


class ForgedTdx:
    """The real quote's TD report under a PKI of our own (``root_der``: its root, to pin)."""

    def __init__(self, quote: bytes, collateral: dict[str, str]) -> None:
        self.real_quote = quote
        self.real = collateral
        self.root = Ca("Test SGX Root CA")
        issue(self.root, self.root, ca=True)
        self.platform = Ca("Test SGX PCK Platform CA")
        issue(self.platform, self.root, ca=True)
        self.pck = Ca("Test SGX PCK Certificate")
        issue(self.pck, self.platform, ca=False, extension=self._real_sgx_extension())
        self.signer = Ca("Test SGX TCB Signing")
        issue(self.signer, self.root, ca=False)
        self.attestation_key = ec.generate_private_key(ec.SECP256R1())

    @property
    def root_der(self) -> bytes:
        assert self.root.cert is not None
        return der(self.root.cert)

    def serial(self, ca: Ca) -> int:
        assert ca.cert is not None
        return ca.cert.serial_number

    def _real_sgx_extension(self) -> bytes:
        chain = (
            self._real_pck_pem().split("-----END CERTIFICATE-----")[0]
            + "-----END CERTIFICATE-----\n"
        )
        real = x509.load_pem_x509_certificate(chain.encode())
        value = real.extensions.get_extension_for_oid(SGX_EXTENSION).value
        assert isinstance(value, x509.UnrecognizedExtension)
        return value.value

    def _real_pck_pem(self) -> str:
        sd = self._signature_data(self.real_quote)
        auth = struct.unpack_from("<H", sd, 582)[0]
        size = struct.unpack_from("<I", sd, 584 + auth + 2)[0]
        return sd[584 + auth + 6 : 584 + auth + 6 + size].decode()

    @staticmethod
    def _signature_data(quote: bytes) -> bytes:
        size = struct.unpack_from("<I", quote, 632)[0]
        return quote[636 : 636 + size]

    def quote(self, report_data: bytes | None = None) -> bytes:
        """The real quote's header and TD report (``report_data`` replaced if given), its QE
        report vouching for our attestation key, signed by our PCK key, with our chain."""
        assert self.pck.cert and self.platform.cert and self.root.cert
        signed = bytearray(self.real_quote[:632])
        if report_data is not None:
            signed[48 + 520 : 48 + 584] = report_data
        sd = self._signature_data(self.real_quote)
        auth_len = struct.unpack_from("<H", sd, 582)[0]
        auth = sd[584 : 584 + auth_len]
        key = raw_point(self.attestation_key)
        qe_report = bytearray(sd[134:518])
        qe_report[320:352] = hashlib.sha256(key + auth).digest()
        chain = (pem(self.pck.cert) + pem(self.platform.cert) + pem(self.root.cert)).encode()
        inner = (
            bytes(qe_report)
            + raw_signature(self.pck.key, bytes(qe_report))
            + struct.pack("<H", auth_len)
            + auth
            + struct.pack("<HI", 5, len(chain))
            + chain
        )
        body = key + struct.pack("<HI", 6, len(inner)) + inner
        signature = raw_signature(self.attestation_key, bytes(signed))
        data = signature + body
        return bytes(signed) + struct.pack("<I", len(data)) + data

    def collateral(
        self,
        *,
        tcb_info: dict[str, Any] | None = None,
        pck_revoked: Sequence[int] = (),
        root_revoked: Sequence[int] = (),
    ) -> dict[str, str]:
        """Intel's TCB info and QE identity (``tcb_info`` replaced if given), signed by our TCB
        signing key; CRLs by our root and Platform CA."""
        assert self.platform.cert and self.root.cert and self.signer.cert
        info = self.real["tcb_info"] if tcb_info is None else json.dumps(tcb_info)
        qe = self.real["qe_identity"]
        signing_chain = pem(self.signer.cert) + pem(self.root.cert)
        return {
            "pck_crl_issuer_chain": pem(self.platform.cert) + pem(self.root.cert),
            "root_ca_crl": crl(self.root, list(root_revoked)).hex(),
            "pck_crl": crl(self.platform, list(pck_revoked)).hex(),
            "tcb_info_issuer_chain": signing_chain,
            "tcb_info": info,
            "tcb_info_signature": raw_signature(self.signer.key, info.encode()).hex(),
            "qe_identity_issuer_chain": signing_chain,
            "qe_identity": qe,
            "qe_identity_signature": raw_signature(self.signer.key, qe.encode()).hex(),
        }

    def write(
        self, folder: Path, name: str, quote: bytes, collateral: dict[str, str]
    ) -> tuple[Path, Path]:
        q = folder / f"{name}.quote"
        c = folder / f"{name}.json"
        q.write_bytes(quote)
        c.write_text(json.dumps(collateral))
        return q, c
