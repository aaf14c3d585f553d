"""Secrets grants: the coordinator's permission for one executor to read one job's secrets.

The coordinator signs the claims with its mesh key; the keystore checks that the certificate
beside them was issued by the mesh CA to the coordinator, that the signature holds, that the
grant has not expired and was not used before. So a grant cannot be forged by an executor, reused
for another job, or replayed later.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from outlayer.errors import ErrorCode, OutlayerError
from outlayer.tls import DOMAIN, Identity
from outlayer.v1 import keystore_pb2

GRANT_SECONDS = 120.0
ISSUER = f"coordinator.{DOMAIN}"


@dataclass(frozen=True)
class GrantClaims:
    grant_id: str
    job_id: int
    account_id: str  # whose secrets
    profile: str
    repo: str
    branch: str
    requester: str  # the access condition is evaluated for this account
    issued_at: float
    expires_at: float


def issue_grant(
    identity: Identity,
    *,
    job_id: int,
    account_id: str,
    profile: str,
    repo: str,
    branch: str,
    requester: str,
    lifetime_s: float = GRANT_SECONDS,
) -> keystore_pb2.SecretsGrant:
    now = time.time()
    claims = GrantClaims(
        grant_id=secrets.token_hex(16),
        job_id=job_id,
        account_id=account_id,
        profile=profile,
        repo=repo,
        branch=branch,
        requester=requester,
        issued_at=now,
        expires_at=now + lifetime_s,
    )
    payload = json.dumps(asdict(claims), sort_keys=True).encode()
    key = serialization.load_pem_private_key(identity.key_file.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise OutlayerError(ErrorCode.CONFIGURATION, f"{identity.key_file} is not an EC key")
    return keystore_pb2.SecretsGrant(
        claims=payload,
        signature=key.sign(payload, ec.ECDSA(hashes.SHA256())),
        coordinator_certificate_pem=identity.cert_file.read_text(),
    )


def verify_grant(grant: keystore_pb2.SecretsGrant, ca_pem: bytes, now: float) -> GrantClaims:
    """The grant's claims when it is genuine and current; PERMISSION_DENIED saying why not."""
    try:
        ca = x509.load_pem_x509_certificate(ca_pem)
        cert = x509.load_pem_x509_certificate(grant.coordinator_certificate_pem.encode())
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        raise _denied("the grant's certificate was not issued by the mesh CA") from None
    names = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    if [n.value for n in names] != [ISSUER]:
        raise _denied("the grant was not issued by the coordinator")
    if not cert.not_valid_before_utc.timestamp() <= now <= cert.not_valid_after_utc.timestamp():
        raise _denied("the coordinator's certificate is not valid now")
    public = cert.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise _denied("the coordinator's certificate does not hold an EC key")
    try:
        public.verify(grant.signature, grant.claims, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise _denied("the grant's signature does not match its claims") from None
    try:
        claims = GrantClaims(**json.loads(grant.claims))
    except (ValueError, TypeError):
        raise _denied("the grant's claims are malformed") from None
    if now > claims.expires_at:
        raise _denied(f"the grant for job {claims.job_id} has expired")
    return claims


def _denied(message: str) -> OutlayerError:
    return OutlayerError(ErrorCode.PERMISSION_DENIED, message)
