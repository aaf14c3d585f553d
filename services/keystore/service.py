"""The keystore's gRPC API: repository public keys, its attestation, and one job's secrets.

Job secrets go only to a caller whose mesh certificate says ``executor``, with a grant the
coordinator signed for that job, used once, before it expires; then the stored access condition
must admit the requester. Every refusal is logged with the job and the reason, never with
secret material.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import grpc

from outlayer import vrf
from outlayer.attested import binding, public_key_der
from outlayer.errors import ErrorCode, OutlayerError, invalid_argument
from outlayer.grants import GrantClaims, verify_grant
from outlayer.near.rpc import NearRpc
from outlayer.origin import near_request_id
from outlayer.repos import git_ref, github_repo, normalize_repo
from outlayer.v1 import keystore_pb2, keystore_pb2_grpc
from services.keystore.access import ChainView, evaluate
from services.keystore.keys import (
    decrypt_secrets,
    identity_key,
    repo_private_key,
    signed_public_key,
    signed_vrf_key,
    storage_key,
    vrf_secret_key,
)
from services.keystore.tee import Tee
from services.keystore.tlskey import TlsKey

log = logging.getLogger("outlayer.keystore")
NONCE_BYTES = 32
# Who may call what (the mesh interceptor checks the caller's certificate against it). Anyone
# who must trust the keystore attests it first; only executors get a job's secrets, and only
# with a grant the coordinator signed for that job.
PERMISSIONS = {
    "GetAttestation": frozenset({"executor", "edge", "operator"}),
    "GetRepoPublicKey": frozenset({"edge", "operator"}),
    "GetJobSecrets": frozenset({"executor"}),
    "GetVrfPublicKey": frozenset({"executor", "edge", "operator"}),
    "ProveRandomness": frozenset({"executor"}),
    "GetStorageKey": frozenset({"executor"}),
}


class StoredSecrets:
    """What the keystore reads in the contract: encrypted secrets and their access condition,
    and whether a request is pending (randomness is proven only for one that is)."""

    def __init__(self, rpc: NearRpc, contract_id: str) -> None:
        self._rpc = rpc
        self._contract_id = contract_id

    @property
    def contract_id(self) -> str:
        return self._contract_id

    def request_pending(self, request_id: int) -> bool:
        record = self._rpc.view(self._contract_id, "get_request", {"request_id": request_id})
        return isinstance(record, dict) and record.get("status") == "pending"

    def find(self, claims: GrantClaims) -> tuple[dict[str, Any], str | None] | None:
        """The record and the branch it is stored (and encrypted) for: a request on a branch
        takes that branch's secrets, else the repository-wide ones. Repositories match by their
        normalised name (``outlayer.repos``): first as the contract stores them, normalised, or
        as spelt; then through the owner's list of stored secrets, for a record stored under
        another spelling (``https://github.com/A/B`` for ``https://github.com/a/b.git``)."""
        wanted = normalize_repo(claims.repo)
        branches = list(dict.fromkeys([claims.branch or None, None]))
        for branch in branches:
            for repo in dict.fromkeys([wanted, claims.repo]):
                record = self._record(claims, repo, branch)
                if record is not None:
                    return record, branch
        listed = self._rpc.view(
            self._contract_id, "list_user_secrets", {"account_id": claims.account_id}
        )
        entries = listed if isinstance(listed, list) else []
        for branch in branches:
            for entry in entries:
                if (
                    isinstance(entry, dict)
                    and isinstance(entry.get("repo"), str)
                    and normalize_repo(entry["repo"]) == wanted
                    and (entry.get("branch") or None) == branch
                    and entry.get("profile") == claims.profile
                ):
                    record = self._record(claims, entry["repo"], entry.get("branch"))
                    if record is not None:
                        return record, branch
        return None

    def _record(self, claims: GrantClaims, repo: str, branch: str | None) -> dict[str, Any] | None:
        record = self._rpc.view(
            self._contract_id,
            "get_secrets",
            {"owner": claims.account_id, "repo": repo, "branch": branch, "profile": claims.profile},
        )
        return record if isinstance(record, dict) else None


class KeystoreServicer(keystore_pb2_grpc.KeystoreServiceServicer):
    def __init__(
        self,
        *,
        master: bytes,
        tee: Tee,
        tls_key: TlsKey,
        mesh_ca_pem: bytes,
        stored: StoredSecrets,
        chain: ChainView,
        clock: Callable[[], float] = time.time,
        register_contract: str = "",
    ) -> None:
        self._register_contract = register_contract
        self._master = master
        self._tee = tee
        self._identity = bytes(identity_key(master).verify_key)
        self._tls_key = tls_key
        self._mesh_ca = mesh_ca_pem
        self._stored = stored
        self._chain = chain
        self._clock = clock
        self._started = clock()
        self._used: dict[str, float] = {}  # grant id → expiry
        self._lock = threading.Lock()

    def GetRepoPublicKey(
        self, request: keystore_pb2.GetRepoPublicKeyRequest, context: grpc.ServicerContext
    ) -> keystore_pb2.RepoPublicKey:
        # Only a repository the contract would store secrets for, and a branch it would take.
        repo = github_repo(request.repo)
        branch = git_ref(request.branch) if request.branch else None
        return keystore_pb2.RepoPublicKey(
            **signed_public_key(self._master, repo, branch),
            register_contract=self._register_contract,
        )

    def GetAttestation(
        self, request: keystore_pb2.GetAttestationRequest, context: grpc.ServicerContext
    ) -> keystore_pb2.Attestation:
        try:
            nonce = bytes.fromhex(request.nonce)
        except ValueError:
            nonce = b""
        if len(nonce) != NONCE_BYTES:
            raise invalid_argument(f"nonce must be {NONCE_BYTES} bytes in hex")
        certificate = self._tls_key.certificate_pem
        report_data = binding(public_key_der(certificate), self._identity) + nonce
        quote, collateral = self._tee.attest(report_data)
        return keystore_pb2.Attestation(
            mode=self._tee.mode,
            quote=quote,
            collateral_json=collateral,
            tls_certificate_pem=certificate.decode(),
            identity=self._identity.hex(),
            report_data=report_data.hex(),
        )

    def GetVrfPublicKey(
        self, request: keystore_pb2.GetVrfPublicKeyRequest, context: grpc.ServicerContext
    ) -> keystore_pb2.VrfPublicKey:
        return keystore_pb2.VrfPublicKey(**signed_vrf_key(self._master))

    def ProveRandomness(
        self, request: keystore_pb2.ProveRandomnessRequest, context: grpc.ServicerContext
    ) -> keystore_pb2.Randomness:
        if len(request.seed_material) > vrf.MAX_SEED_BYTES:
            raise invalid_argument(f"seed_material is at most {vrf.MAX_SEED_BYTES} bytes")
        key = request.origin_key
        if key.startswith("near:"):
            request_id = near_request_id(key, self._stored.contract_id)
            if request_id is None:
                raise invalid_argument(
                    f"origin_key {key[:80]!r} is not a request of {self._stored.contract_id}"
                )
            # Randomness for a request that does not exist yet would let whoever asks know it
            # before the request is made.
            if not self._stored.request_pending(request_id):
                raise OutlayerError(
                    ErrorCode.NOT_FOUND,
                    f"request {request_id} is not pending on {self._stored.contract_id}",
                )
        elif not key.startswith("https:") or len(key) <= len("https:") or len(key) > 300:
            raise invalid_argument("origin_key is near:CONTRACT:REQUEST_ID or https:CALL_ID")
        secret = vrf_secret_key(self._master)
        proof = vrf.prove(secret, vrf.alpha_for(key, request.seed_material))
        return keystore_pb2.Randomness(
            output=vrf.proof_to_hash(proof), proof=proof, public_key=vrf.public_key(secret).hex()
        )

    def GetStorageKey(
        self, request: keystore_pb2.GetStorageKeyRequest, context: grpc.ServicerContext
    ) -> keystore_pb2.StorageKey:
        return keystore_pb2.StorageKey(key=storage_key(self._master, request.store))

    def GetJobSecrets(
        self, request: keystore_pb2.GetJobSecretsRequest, context: grpc.ServicerContext
    ) -> keystore_pb2.JobSecrets:
        try:
            return keystore_pb2.JobSecrets(env=self._job_secrets(request))
        except OutlayerError as exc:  # the interceptor answers it; the operator sees why
            log.warning("refused job secrets (%s): %s", exc.code.value, exc.message)
            raise

    def _job_secrets(self, request: keystore_pb2.GetJobSecretsRequest) -> dict[str, str]:
        now = self._clock()
        claims = verify_grant(request.grant, self._mesh_ca, now)
        self._spend(claims, now)
        found = self._stored.find(claims)
        if found is None:
            raise OutlayerError(
                ErrorCode.NOT_FOUND,
                f"{claims.account_id} has stored no secrets for {claims.repo} "
                f"(branch {claims.branch or 'none'}, profile {claims.profile}); store them with "
                "`outlayer secrets store` first",
            )
        record, branch = found
        decision = evaluate(
            record.get("access"), claims.requester, self._chain, owner=claims.account_id
        )
        if not decision.allowed:
            raise OutlayerError(
                ErrorCode.ACCESS_CONDITION,
                f"the access condition of {claims.account_id}'s secrets (profile "
                f"{claims.profile}) refuses {claims.requester}: {decision.reason}",
            )
        private = repo_private_key(self._master, claims.repo, branch)
        env = decrypt_secrets(private, str(record.get("encrypted_secrets_base64", "")))
        log.info("released %d variables for job %s", len(env), claims.job_id)
        return env

    def _spend(self, claims: GrantClaims, now: float) -> None:
        """Single use: a grant is accepted once, and none issued before this keystore started
        (its memory of spent grants starts then)."""
        if claims.issued_at < self._started:
            raise OutlayerError(
                ErrorCode.PERMISSION_DENIED,
                f"the grant for job {claims.job_id} predates this keystore; lease the job again",
            )
        with self._lock:
            for grant_id, expiry in list(self._used.items()):
                if expiry < now:
                    del self._used[grant_id]
            if claims.grant_id in self._used:
                raise OutlayerError(
                    ErrorCode.PERMISSION_DENIED,
                    f"the grant for job {claims.job_id} was already used",
                )
            self._used[claims.grant_id] = claims.expires_at
