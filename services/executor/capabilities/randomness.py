"""Guests' verifiable randomness: a VRF output bound to the job's request and the guest's seed.

For a job, the keystore proves it (``ProveRandomness``, over the attested channel), so the
operator cannot re-roll: one request and seed have exactly one output, and anyone can check the
proof against the keystore's published VRF key (``outlayer vrf verify``). ``outlayer run`` has
no keystore: it proves with a local development key, labelled as such in the answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Protocol

import grpc

from outlayer import vrf
from outlayer.attested import attested_keystore
from outlayer.config import AttestationSettings, TlsSettings
from outlayer.errors import error_from_rpc, invalid_argument
from outlayer.v1 import keystore_pb2


class Randomness(Protocol):
    def draw(self, seed: bytes, timeout: float) -> bytes:
        """The answer the guest reads: JSON with output, proof, public_key, origin and seed."""
        ...


def answer(origin_key: str, seed: bytes, proof: bytes, *, public_key: str, prover: str) -> bytes:
    return json.dumps({
        "output": vrf.proof_to_hash(proof).hex(), "proof": proof.hex(), "public_key": public_key,
        "origin": origin_key, "seed": seed.hex(), "prover": prover,
    }).encode()  # fmt: skip


def _check_seed(seed: bytes) -> None:
    if len(seed) > vrf.MAX_SEED_BYTES:
        raise invalid_argument(f"the seed material is at most {vrf.MAX_SEED_BYTES} bytes")


class KeystoreRandomness:
    def __init__(
        self, target: str, tls: TlsSettings, policy: AttestationSettings, origin_key: str
    ) -> None:
        self._target = target
        self._tls = tls
        self._policy = policy
        self._origin_key = origin_key

    def draw(self, seed: bytes, timeout: float) -> bytes:
        _check_seed(seed)
        request = keystore_pb2.ProveRandomnessRequest(
            origin_key=self._origin_key, seed_material=seed
        )
        with attested_keystore(self._target, self._tls, "executor", self._policy) as keystore:
            try:
                reply = keystore.stub.ProveRandomness(request, timeout=timeout)
            except grpc.RpcError as exc:
                raise error_from_rpc(exc, "the keystore") from None
        return answer(self._origin_key, seed, reply.proof, public_key=reply.public_key,
                      prover="keystore")  # fmt: skip


class LocalRandomness:
    """``outlayer run``'s: a development key, so a guest's code path is the same locally."""

    def __init__(self, secret_key: Callable[[], bytes], origin_key: str) -> None:
        self._secret = secret_key  # asked for at the first draw
        self._origin_key = origin_key

    def draw(self, seed: bytes, timeout: float) -> bytes:
        _check_seed(seed)
        secret = self._secret()
        proof = vrf.prove(secret, vrf.alpha_for(self._origin_key, seed))
        return answer(self._origin_key, seed, proof, public_key=vrf.public_key(secret).hex(),
                      prover="local development key")  # fmt: skip
