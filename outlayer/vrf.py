"""ECVRF-EDWARDS25519-SHA512-TAI (RFC 9381, suite 0x03): verifiable randomness.

A VRF's output is unique for a key and an input: whoever holds the secret key can compute it
and prove it, and anyone with the public key can check the proof, but nobody (the key's holder
included) can make a second output for the same input. So a guest's randomness, with its
input bound to the request (``alpha_for``), cannot be rolled again by the operator.

The group operations on points of the prime-order subgroup are libsodium's (PyNaCl's
bindings); what libsodium does not offer is written here and kept to the RFC's steps:
decoding a candidate point of the whole curve and clearing its cofactor (the "try and
increment" encoding to the curve), which is where points outside the subgroup occur.
"""

from __future__ import annotations

import hashlib

import nacl.bindings as sodium

SUITE = b"\x03"
SUITE_NAME = "ECVRF-EDWARDS25519-SHA512-TAI"
MAX_SEED_BYTES = 1024
PROOF_BYTES = 80  # Gamma (32) || c (16) || s (32)
OUTPUT_BYTES = 64
_P = 2**255 - 19
_Q = 2**252 + 27742317777372353535851937790883648493  # the prime order of the subgroup
_D = (-121665 * pow(121666, -1, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
_IDENTITY = (1).to_bytes(32, "little")


class InvalidProof(ValueError):
    """A proof (or public key) that does not verify."""


def public_key(secret_key: bytes) -> bytes:
    """The public key of a 32-byte secret key (as Ed25519: RFC 8032's key generation)."""
    return sodium.crypto_scalarmult_ed25519_base_noclamp(_secret_scalar(secret_key))


def prove(secret_key: bytes, alpha: bytes) -> bytes:
    """The 80-byte proof for ``alpha`` (RFC 9381 section 5.1)."""
    digest = hashlib.sha512(secret_key).digest()
    x = _secret_scalar(secret_key)
    y = sodium.crypto_scalarmult_ed25519_base_noclamp(x)
    h = _encode_to_curve(y, alpha)
    gamma = sodium.crypto_scalarmult_ed25519_noclamp(x, h)
    k = _reduce(hashlib.sha512(digest[32:] + h).digest())
    u = sodium.crypto_scalarmult_ed25519_base_noclamp(k)
    v = sodium.crypto_scalarmult_ed25519_noclamp(k, h)
    c = _challenge(y, h, gamma, u, v)
    s = sodium.crypto_core_ed25519_scalar_add(k, sodium.crypto_core_ed25519_scalar_mul(c, x))
    return gamma + c[:16] + s


def proof_to_hash(proof: bytes) -> bytes:
    """The 64-byte output a (verified) proof stands for (section 5.2)."""
    gamma, _, _ = _decode_proof(proof)
    cleared = sodium.crypto_scalarmult_ed25519_noclamp(_scalar(8), gamma)
    return hashlib.sha512(SUITE + b"\x03" + cleared + b"\x00").digest()


def verify(public: bytes, alpha: bytes, proof: bytes) -> bytes:
    """The output for ``alpha`` when ``proof`` is valid under ``public`` (section 5.3, with
    the public key validated); raises InvalidProof otherwise."""
    if len(public) != 32 or not sodium.crypto_core_ed25519_is_valid_point(public):
        raise InvalidProof("the public key is not a valid edwards25519 point of the subgroup")
    gamma, c, s = _decode_proof(proof)
    h = _encode_to_curve(public, alpha)
    try:
        u = sodium.crypto_core_ed25519_sub(
            sodium.crypto_scalarmult_ed25519_base_noclamp(s),
            sodium.crypto_scalarmult_ed25519_noclamp(c, public),
        )
        v = sodium.crypto_core_ed25519_sub(
            sodium.crypto_scalarmult_ed25519_noclamp(s, h),
            sodium.crypto_scalarmult_ed25519_noclamp(c, gamma),
        )
    except Exception:  # libsodium refuses a point (an identity result): not a valid proof
        raise InvalidProof("the proof does not verify") from None
    if _challenge(public, h, gamma, u, v)[:16] != c[:16]:
        raise InvalidProof("the proof does not verify")
    return proof_to_hash(proof)


def alpha_for(origin_key: str, seed_material: bytes) -> bytes:
    """The VRF input of a guest's randomness: its request (the job's origin key:
    ``near:CONTRACT:REQUEST_ID`` or ``https:CALL_ID``) and the guest's own seed material,
    length-prefixed so that no two pairs give one input."""
    origin = origin_key.encode()
    return b"outlayer-random-v1\x00" + len(origin).to_bytes(4, "big") + origin + seed_material


# --- internals -----------------------------------------------------------------------------------
def _secret_scalar(secret_key: bytes) -> bytes:
    if len(secret_key) != 32:
        raise ValueError("a VRF secret key is 32 bytes")
    head = bytearray(hashlib.sha512(secret_key).digest()[:32])
    head[0] &= 248
    head[31] &= 127
    head[31] |= 64
    return _reduce(bytes(head))


def _reduce(data: bytes) -> bytes:
    return _scalar(int.from_bytes(data, "little") % _Q)


def _scalar(value: int) -> bytes:
    return value.to_bytes(32, "little")


def _challenge(*points: bytes) -> bytes:
    """c as a 32-byte scalar: the first 16 bytes of the hash, the rest zero."""
    digest = hashlib.sha512(SUITE + b"\x02" + b"".join(points) + b"\x00").digest()
    return digest[:16] + bytes(16)


def _decode_proof(proof: bytes) -> tuple[bytes, bytes, bytes]:
    if len(proof) != PROOF_BYTES:
        raise InvalidProof(f"a proof is {PROOF_BYTES} bytes, not {len(proof)}")
    gamma, c, s = proof[:32], proof[32:48] + bytes(16), proof[48:]
    if not sodium.crypto_core_ed25519_is_valid_point(gamma):
        raise InvalidProof("the proof's Gamma is not a valid point of the subgroup")
    if int.from_bytes(s, "little") >= _Q:
        raise InvalidProof("the proof's s is not below the group order")
    return gamma, c, s


def _encode_to_curve(public: bytes, alpha: bytes) -> bytes:
    """Try and increment (section 5.4.1.1): the first hash that decodes to a point of the
    curve, times the cofactor (8), not the identity."""
    for counter in range(256):
        candidate = hashlib.sha512(
            SUITE + b"\x01" + public + alpha + bytes([counter]) + b"\x00"
        ).digest()[:32]
        point = _decode(candidate)
        if point is None:
            continue
        for _ in range(3):  # x 8
            point = _double(point)
        encoded = _encode(point)
        if encoded != _IDENTITY:
            return encoded
    raise ValueError("no point found in 256 tries (probability about 2^-256)")


def _decode(data: bytes) -> tuple[int, int] | None:
    """An encoded point of the curve (RFC 8032 section 5.1.3), or None."""
    value = int.from_bytes(data, "little")
    sign = value >> 255
    y = value & ((1 << 255) - 1)
    if y >= _P:
        return None
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x = (u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P)) % _P
    check = (v * x * x) % _P
    if check == (-u) % _P:
        x = (x * _SQRT_M1) % _P
    elif check != u:
        return None
    if x == 0 and sign:
        return None
    if (x & 1) != sign:
        x = _P - x
    return x, y


def _double(point: tuple[int, int]) -> tuple[int, int]:
    x, y = point
    xy = x * y % _P
    x2, y2 = x * x % _P, y * y % _P
    dxy = _D * x2 % _P * y2 % _P
    return (2 * xy * pow(1 + dxy, -1, _P) % _P, (y2 + x2) * pow(1 - dxy, -1, _P) % _P)


def _encode(point: tuple[int, int]) -> bytes:
    x, y = point
    return (y | ((x & 1) << 255)).to_bytes(32, "little")
