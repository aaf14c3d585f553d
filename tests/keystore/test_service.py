"""The keystore over real gRPC and TLS: its attested channel, its public keys, and job secrets
only for an executor holding a fresh, genuine, unused grant whose requester passes the access
condition. Every refusal is tested, and none of them leaks the secret."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import nacl.public
import nacl.signing
import pytest

from cli.main import main as cli_main
from devstack.demo import account, provision, send_request
from outlayer import vrf
from outlayer.attestation import verify_quote
from outlayer.attested import (
    attested_keystore,
    check_attestation,
    development_statement,
    served_certificate,
)
from outlayer.config import AttestationSettings, Settings
from outlayer.errors import ErrorCode, OutlayerError, error_from_rpc
from outlayer.grants import issue_grant
from outlayer.near.keys import Signer
from outlayer.near.rpc import NearRpc
from outlayer.tls import ensure_dev_pki, identity_in
from outlayer.v1 import keystore_pb2
from services.executor.secrets import KeystoreSecrets
from services.keystore.keys import (
    development_master,
    encrypt_secrets,
    identity_key,
    repo_private_key,
)
from services.keystore.server import build_server
from services.keystore.tee import DstackTee
from tests.dstack_standin import running_dstack_standin
from tests.localnet_server import running_localnet
from tests.vectors import TDX as VECTORS

REPO = "https://github.com/alice/bot"
SECRET = "planted-s3cr3t-7f1c"
ACCEPT_DEV = AttestationSettings(accept_development=True)
VERIFIED_AT = 1750809600  # within the recorded collateral's validity (see its README)


@dataclass
class Mesh:
    settings: Settings
    target: str
    rpc: NearRpc
    alice: Signer
    bob: Signer
    contract: str
    master: bytes
    pki: Path

    def grant(self, **overrides: object) -> keystore_pb2.SecretsGrant:
        claims: dict[str, object] = {
            "job_id": 7, "account_id": self.alice.account_id, "profile": "prod", "repo": REPO,
            "branch": "", "requester": self.alice.account_id,
        }  # fmt: skip
        claims.update(overrides)
        return issue_grant(identity_in(self.pki, "coordinator"), **claims)  # type: ignore[arg-type]

    def secrets(self, policy: AttestationSettings = ACCEPT_DEV) -> KeystoreSecrets:
        return KeystoreSecrets(self.target, self.settings.tls, policy)


def store(mesh: Mesh, owner: Signer, profile: str, secrets: dict[str, str] | str,
          access: dict[str, object]) -> None:  # fmt: skip
    public = bytes(repo_private_key(mesh.master, REPO).public_key)
    blob = secrets if isinstance(secrets, str) else encrypt_secrets(public, secrets)
    outcome = mesh.rpc.function_call(owner, mesh.contract, "store_secrets", {
        "repo": REPO, "profile": profile, "encrypted_secrets_base64": blob, "access": access,
    }, deposit=10**23)  # fmt: skip
    assert outcome.failure is None, outcome.failure


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> Iterator[Mesh]:
    tmp = tmp_path_factory.mktemp("keystore")
    pki = tmp / "pki"
    ensure_dev_pki(pki)
    with running_localnet(tmp) as (url, root):
        rpc = NearRpc(url)
        contract, _ = provision(rpc, root, tmp / "keys", lambda _: None)
        alice = account(rpc, root, "alice", tmp / "keys", lambda _: None)
        bob = account(rpc, root, "bob", tmp / "keys", lambda _: None)
        configured = settings.model_copy(update={
            "tls": settings.tls.model_copy(update={"enabled": True, "dir": pki}),
            "keystore": settings.keystore.model_copy(update={
                "master_key_file": tmp / "master.key", "rpc_url": url,
                "contract_id": contract.account_id, "register_contract": "register.test"}),
        })  # fmt: skip
        server, port = build_server(configured, "127.0.0.1:0")
        server.start()
        master = development_master(tmp / "master.key")
        world = Mesh(configured, f"127.0.0.1:{port}", rpc, alice, bob, contract.account_id,
                     master, pki)  # fmt: skip
        store(
            world,
            alice,
            "prod",
            {"API_KEY": SECRET, "MODE": "live"},
            {"Whitelist": {"accounts": [alice.account_id]}},
        )
        try:
            yield world
        finally:
            server.stop(grace=None)


# --- the attested channel -------------------------------------------------------------------------
def test_a_development_keystore_is_accepted_only_when_configured(mesh: Mesh) -> None:
    with attested_keystore(mesh.target, mesh.settings.tls, "executor", ACCEPT_DEV) as keystore:
        assert keystore.mode == "development"
        assert keystore.identity == bytes(identity_key(mesh.master).verify_key)
    with (
        pytest.raises(OutlayerError, match="only a development attestation") as refused,
        attested_keystore(mesh.target, mesh.settings.tls, "executor", AttestationSettings()),
    ):
        pass
    assert refused.value.code is ErrorCode.PERMISSION_DENIED


def test_an_attestation_for_another_key_or_nonce_is_refused(mesh: Mesh) -> None:
    served = served_certificate(mesh.target, mesh.settings.tls, "executor")
    nonce = bytes(32)
    with attested_keystore(mesh.target, mesh.settings.tls, "executor", ACCEPT_DEV) as keystore:
        genuine = keystore.stub.GetAttestation(
            keystore_pb2.GetAttestationRequest(nonce=nonce.hex())
        )
    assert check_attestation(genuine, served_certificate_pem=served, nonce=nonce,
                             policy=ACCEPT_DEV) is None  # fmt: skip
    with pytest.raises(OutlayerError, match="does not bind this key and nonce"):
        check_attestation(genuine, served_certificate_pem=served, nonce=b"\1" * 32,
                          policy=ACCEPT_DEV)  # fmt: skip
    other = (mesh.pki / "edge.pem").read_bytes()  # some other certificate
    with pytest.raises(OutlayerError, match="not the one the keystore serves"):
        check_attestation(genuine, served_certificate_pem=other, nonce=nonce, policy=ACCEPT_DEV)
    forged = keystore_pb2.Attestation()
    forged.CopyFrom(genuine)
    forged.identity = bytes(nacl.signing.SigningKey.generate().verify_key).hex()
    forged.quote = development_statement(bytes(64))
    with pytest.raises(OutlayerError, match="does not bind"):
        check_attestation(forged, served_certificate_pem=served, nonce=nonce, policy=ACCEPT_DEV)


def test_a_tdx_keystore_through_dstack_is_refused_when_its_quote_binds_another_key(
    mesh: Mesh, tmp_path: Path
) -> None:
    """No TDX here: the dstack stand-in answers with a genuine recorded quote, whose report_data
    cannot bind this keystore's fresh TLS key. The client must refuse it, after the quote's own
    checks pass (as of its collateral's validity)."""
    allowlist = tmp_path / "allow.json"
    recorded = verify_quote(
        (VECTORS / "tdx_quote").read_bytes(),
        (VECTORS / "tdx_quote_collateral.json").read_text(),
        VERIFIED_AT,
    )
    assert recorded.valid, recorded.reasons  # the recorded quote is genuine
    allowlist.write_text(json.dumps({"measurements": [recorded.measurements]}))
    policy = AttestationSettings(measurements_file=allowlist, verify_at=VERIFIED_AT)
    with running_dstack_standin(VECTORS / "tdx_quote") as (endpoint, calls):
        tee = DstackTee(endpoint, collateral_file=VECTORS / "tdx_quote_collateral.json",
                        pccs_url="")  # fmt: skip
        server, port = build_server(mesh.settings, "127.0.0.1:0", tee=tee)
        server.start()
        try:
            target = f"127.0.0.1:{port}"
            with (
                pytest.raises(OutlayerError) as refused,
                attested_keystore(target, mesh.settings.tls, "executor", policy),
            ):
                pass
            with (
                pytest.raises(OutlayerError, match="no measurement allow-list") as unlisted,
                attested_keystore(target, mesh.settings.tls, "executor", ACCEPT_DEV),
            ):
                pass
            foreign = tmp_path / "foreign.json"
            foreign.write_text(json.dumps({"measurements": [
                {**recorded.measurements, "mrtd": "00" * 48}]}))  # fmt: skip
            unknown = AttestationSettings(measurements_file=foreign, verify_at=VERIFIED_AT)
            with (
                pytest.raises(OutlayerError, match="not on the allow-list"),
                attested_keystore(target, mesh.settings.tls, "executor", unknown),
            ):
                pass
            today = AttestationSettings(measurements_file=allowlist)  # the collateral expired
            with (
                pytest.raises(OutlayerError, match="collateral check failed"),
                attested_keystore(target, mesh.settings.tls, "executor", today),
            ):
                pass
        finally:
            server.stop(grace=None)
    assert calls[:2] == ["GetKey", "GetQuote"]  # the master secret and a quote came from dstack
    reasons = refused.value.message
    assert "report_data does not match" in reasons
    assert "TCB status" not in reasons and "allow-list" not in reasons  # the quote itself is good
    assert unlisted.value.code is ErrorCode.PERMISSION_DENIED


def test_strangers_cannot_even_complete_the_handshake(mesh: Mesh, tmp_path: Path) -> None:
    ensure_dev_pki(tmp_path / "foreign", ("executor",))
    foreign = mesh.settings.tls.model_copy(update={"dir": tmp_path / "foreign"})
    with pytest.raises(OutlayerError) as refused:
        mesh.secrets().__class__(mesh.target, foreign, ACCEPT_DEV).fetch(mesh.grant())
    assert refused.value.code is ErrorCode.UNAVAILABLE


# --- public keys ----------------------------------------------------------------------------------
def test_public_keys_are_signed_by_the_attested_identity(mesh: Mesh) -> None:
    with attested_keystore(mesh.target, mesh.settings.tls, "edge", ACCEPT_DEV) as keystore:
        key = keystore.stub.GetRepoPublicKey(keystore_pb2.GetRepoPublicKeyRequest(repo=REPO))
        statement = json.dumps({"repo": REPO, "branch": "", "public_key": key.public_key},
                               sort_keys=True).encode()  # fmt: skip
        nacl.signing.VerifyKey(keystore.identity).verify(statement, bytes.fromhex(key.signature))
        assert bytes.fromhex(key.public_key) == bytes(
            repo_private_key(mesh.master, REPO).public_key
        )
        assert key.register_contract == "register.test"  # where to check it on chain
        branch = keystore.stub.GetRepoPublicKey(
            keystore_pb2.GetRepoPublicKeyRequest(repo=REPO, branch="main")
        )
        assert branch.public_key != key.public_key
        # No key for what could never hold secrets: the contract refuses to store them.
        for repo, ref, says in [
            (" ", "", "https://github.com/OWNER/REPO"),
            ("not-a-url", "", "https://github.com/OWNER/REPO"),
            ("https://gitlab.com/alice/bot", "", "https://github.com/OWNER/REPO"),
            ("https://github.com/alice", "", "https://github.com/OWNER/REPO"),
            (REPO, "-x", "not a branch or tag name"),
            (REPO, "a..b", "not a branch or tag name"),
        ]:
            with pytest.raises(grpc.RpcError) as bad:
                keystore.stub.GetRepoPublicKey(
                    keystore_pb2.GetRepoPublicKeyRequest(repo=repo, branch=ref)
                )
            assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT, repo
            assert says in (bad.value.details() or ""), bad.value.details()
        # Any spelling of the repository is the same key (outlayer.repos).
        spelt = keystore.stub.GetRepoPublicKey(
            keystore_pb2.GetRepoPublicKeyRequest(repo=" https://GitHub.com/Alice/Bot.git/ ")
        )
        assert spelt.public_key == key.public_key and spelt.repo == REPO


# --- job secrets ----------------------------------------------------------------------------------
def test_an_executor_with_a_grant_gets_exactly_the_jobs_variables(mesh: Mesh) -> None:
    assert mesh.secrets().fetch(mesh.grant()) == {"API_KEY": SECRET, "MODE": "live"}


def test_a_grant_works_once(mesh: Mesh, caplog: pytest.LogCaptureFixture) -> None:
    grant = mesh.grant()
    mesh.secrets().fetch(grant)
    with caplog.at_level(logging.DEBUG), pytest.raises(OutlayerError, match="already used"):
        mesh.secrets().fetch(grant)
    assert "already used" in caplog.text and SECRET not in caplog.text


def test_expired_forged_or_foreign_grants_are_refused(mesh: Mesh, tmp_path: Path) -> None:
    secrets = mesh.secrets()
    with pytest.raises(OutlayerError, match="expired"):
        secrets.fetch(mesh.grant(lifetime_s=-1))
    forged = mesh.grant()
    claims = json.loads(forged.claims)
    claims["requester"] = "mallory.localnet"
    forged.claims = json.dumps(claims, sort_keys=True).encode()
    with pytest.raises(OutlayerError, match="signature does not match"):
        secrets.fetch(forged)
    ensure_dev_pki(tmp_path / "rogue", ("coordinator",))
    rogue = issue_grant(identity_in(tmp_path / "rogue", "coordinator"), job_id=7,
                        account_id=mesh.alice.account_id, profile="prod", repo=REPO, branch="",
                        requester=mesh.alice.account_id)  # fmt: skip
    with pytest.raises(OutlayerError, match="not issued by the mesh CA"):
        secrets.fetch(rogue)
    # A grant signed by another service of the mesh (the edge) is not the coordinator's.
    edge_signed = issue_grant(identity_in(mesh.pki, "edge"), job_id=7,
                              account_id=mesh.alice.account_id, profile="prod", repo=REPO,
                              branch="", requester=mesh.alice.account_id)  # fmt: skip
    with pytest.raises(OutlayerError, match="not issued by the coordinator"):
        secrets.fetch(edge_signed)


def test_only_executors_are_served_job_secrets(mesh: Mesh) -> None:
    with (
        attested_keystore(mesh.target, mesh.settings.tls, "edge", ACCEPT_DEV) as keystore,
        pytest.raises(grpc.RpcError) as refused,
    ):
        keystore.stub.GetJobSecrets(keystore_pb2.GetJobSecretsRequest(grant=mesh.grant()))
    error = error_from_rpc(refused.value)
    assert error.code is ErrorCode.PERMISSION_DENIED
    assert "the edge identity may not call /outlayer.v1.KeystoreService/GetJobSecrets" in (
        error.message
    )
    assert "allowed: executor" in error.message


def test_the_access_condition_is_checked_against_the_requester(mesh: Mesh) -> None:
    with pytest.raises(OutlayerError) as refused:
        mesh.secrets().fetch(mesh.grant(requester=mesh.bob.account_id))
    assert refused.value.code is ErrorCode.ACCESS_CONDITION
    assert mesh.bob.account_id in refused.value.message
    assert "not on the whitelist" in refused.value.message
    assert SECRET not in refused.value.message


def test_missing_or_unusable_secrets_say_what_to_do(mesh: Mesh) -> None:
    with pytest.raises(OutlayerError, match="has stored no secrets") as missing:
        mesh.secrets().fetch(mesh.grant(profile="staging"))
    assert missing.value.code is ErrorCode.NOT_FOUND
    # Secrets that try to set a platform variable, sealed by hand past the client's check.
    public = repo_private_key(mesh.master, REPO).public_key
    sealed = nacl.public.SealedBox(public).encrypt(json.dumps({"NEAR_SENDER_ID": "x"}).encode())
    store(mesh, mesh.alice, "sneaky", base64.b64encode(sealed).decode(), {"AllowAll": {}})
    with pytest.raises(OutlayerError, match="NEAR_SENDER_ID") as reserved:
        mesh.secrets().fetch(mesh.grant(profile="sneaky"))
    assert reserved.value.code is ErrorCode.INVALID_ARGUMENT


def test_a_restarted_keystore_refuses_grants_from_before_it_started(mesh: Mesh) -> None:
    grant = mesh.grant()
    server, port = build_server(mesh.settings, "127.0.0.1:0")
    server.start()
    try:
        later = KeystoreSecrets(f"127.0.0.1:{port}", mesh.settings.tls, ACCEPT_DEV)
        with pytest.raises(OutlayerError, match="predates this keystore"):
            later.fetch(grant)
        assert later.fetch(mesh.grant())["API_KEY"] == SECRET
    finally:
        server.stop(grace=None)


@pytest.mark.parametrize(
    ("stored_as", "asked_as"),
    [
        ("https://github.com/Carol/Tool", "https://github.com/carol/tool.git/"),
        ("https://github.com/dave/gadget.git/", "https://github.com/Dave/Gadget"),
    ],
)
def test_secrets_are_found_whatever_the_repository_spelling(
    mesh: Mesh, stored_as: str, asked_as: str
) -> None:
    """Case, a ".git" suffix and trailing slashes name the same repository: the key the
    client encrypted to and the record on chain are found for any spelling."""
    profile = "spelt-" + stored_as.rsplit("/", 2)[-2].lower()
    public = bytes(repo_private_key(mesh.master, stored_as).public_key)
    outcome = mesh.rpc.function_call(mesh.alice, mesh.contract, "store_secrets", {
        "repo": stored_as, "profile": profile,
        "encrypted_secrets_base64": encrypt_secrets(public, {"TOKEN": SECRET}),
        "access": {"Whitelist": {"accounts": [mesh.alice.account_id]}},
    }, deposit=10**23)  # fmt: skip
    assert outcome.failure is None, outcome.failure
    assert mesh.secrets().fetch(mesh.grant(repo=asked_as, profile=profile)) == {"TOKEN": SECRET}
    # Another repository is still another repository.
    with pytest.raises(OutlayerError, match="has stored no secrets"):
        mesh.secrets().fetch(mesh.grant(repo=asked_as.rstrip("/") + "-fork", profile=profile))


@pytest.mark.parametrize("me", ["compiler", "indexer", "coordinator"])
def test_the_keystore_s_permission_table_refuses_other_mesh_identities(mesh: Mesh, me: str) -> None:
    # Even its attestation: only services that must trust the keystore (executor, edge) and
    # operators ask for one; the interceptor refuses the rest before the method runs.
    with (
        pytest.raises(OutlayerError) as refused,
        attested_keystore(mesh.target, mesh.settings.tls, me, ACCEPT_DEV),
    ):
        pass
    error = refused.value
    assert error.code is ErrorCode.PERMISSION_DENIED
    assert f"the {me} identity may not call /outlayer.v1.KeystoreService/GetAttestation" in (
        error.message
    )


def test_the_edge_gets_repository_keys_but_executors_do_not(mesh: Mesh) -> None:
    request = keystore_pb2.GetRepoPublicKeyRequest(repo=REPO)
    with attested_keystore(mesh.target, mesh.settings.tls, "edge", ACCEPT_DEV) as keystore:
        assert keystore.stub.GetRepoPublicKey(request).public_key
    with (
        attested_keystore(mesh.target, mesh.settings.tls, "executor", ACCEPT_DEV) as keystore,
        pytest.raises(grpc.RpcError) as refused,
    ):
        keystore.stub.GetRepoPublicKey(request)
    assert error_from_rpc(refused.value).code is ErrorCode.PERMISSION_DENIED


# --- randomness ---------------------------------------------------------------------------------
def _pending_request(mesh: Mesh) -> int:
    source = {"repo": REPO, "commit": "1" * 40}
    sent = send_request(mesh.rpc, mesh.alice, mesh.contract, code_source=source, input_data="",
                        limits={"max_instructions": 10**6})  # fmt: skip
    assert sent.failure is None, sent.failure
    for line in sent.logs:
        if line.startswith("EVENT_JSON:") and "execution_requested" in line:
            return int(json.loads(line.removeprefix("EVENT_JSON:"))["data"][0]["request_id"])
    raise AssertionError("no execution_requested event")


def test_randomness_is_proven_for_a_pending_request_and_verifiable_by_anyone(mesh: Mesh) -> None:
    request_id = _pending_request(mesh)
    origin = f"near:{mesh.contract}:{request_id}"
    with attested_keystore(mesh.target, mesh.settings.tls, "edge", ACCEPT_DEV) as keystore:
        published = keystore.stub.GetVrfPublicKey(keystore_pb2.GetVrfPublicKeyRequest())
        statement = json.dumps({"public_key": published.public_key, "suite": published.suite},
                               sort_keys=True).encode()  # fmt: skip
        nacl.signing.VerifyKey(keystore.identity).verify(
            statement, bytes.fromhex(published.signature)
        )
    assert published.suite == "ECVRF-EDWARDS25519-SHA512-TAI"
    with attested_keystore(mesh.target, mesh.settings.tls, "executor", ACCEPT_DEV) as keystore:
        ask = keystore_pb2.ProveRandomnessRequest(origin_key=origin, seed_material=b"dice")
        first = keystore.stub.ProveRandomness(ask)
        again = keystore.stub.ProveRandomness(ask)  # a re-run of the job: the same roll
        other = keystore.stub.ProveRandomness(
            keystore_pb2.ProveRandomnessRequest(origin_key=origin, seed_material=b"cards")
        )
        https = keystore.stub.ProveRandomness(
            keystore_pb2.ProveRandomnessRequest(origin_key="https:abc123", seed_material=b"")
        )
    assert (first.output, first.proof) == (again.output, again.proof)
    assert len(first.output) == 64 and first.output != other.output != https.output
    public = bytes.fromhex(published.public_key)
    assert vrf.verify(public, vrf.alpha_for(origin, b"dice"), first.proof) == first.output
    with pytest.raises(vrf.InvalidProof):  # the proof is for that request only
        vrf.verify(public, vrf.alpha_for(f"near:{mesh.contract}:{request_id + 1}", b"dice"),
                   first.proof)  # fmt: skip
    # Anyone checks it with the command line, from the published key.
    checked = cli_main(["vrf", "verify", "--public-key", published.public_key, "--request-id",
                        str(request_id), "--contract", mesh.contract, "--seed-text", "dice",
                        "--proof", first.proof.hex(), "--output", first.output.hex()])  # fmt: skip
    assert checked == 0
    forged = cli_main(["vrf", "verify", "--public-key", published.public_key, "--origin", origin,
                       "--seed-text", "dice", "--proof", other.proof.hex()])  # fmt: skip
    assert forged == 1


def test_randomness_is_refused_before_a_request_exists_and_for_bad_inputs(mesh: Mesh) -> None:
    future = f"near:{mesh.contract}:{10**9}"
    cases = [
        (future, b"", ErrorCode.NOT_FOUND, "is not pending"),
        ("near:other.contract:1", b"", ErrorCode.INVALID_ARGUMENT, "is not a request of"),
        ("job:7", b"", ErrorCode.INVALID_ARGUMENT, "near:CONTRACT:REQUEST_ID or https:CALL_ID"),
        ("https:x", b"s" * 1025, ErrorCode.INVALID_ARGUMENT, "at most 1024 bytes"),
    ]
    with attested_keystore(mesh.target, mesh.settings.tls, "executor", ACCEPT_DEV) as keystore:
        for origin, seed, code, message in cases:
            with pytest.raises(grpc.RpcError) as refused:
                keystore.stub.ProveRandomness(
                    keystore_pb2.ProveRandomnessRequest(origin_key=origin, seed_material=seed)
                )
            error = error_from_rpc(refused.value)
            assert error.code is code and message in error.message
    with (
        attested_keystore(mesh.target, mesh.settings.tls, "edge", ACCEPT_DEV) as keystore,
        pytest.raises(grpc.RpcError) as edge,
    ):
        keystore.stub.ProveRandomness(keystore_pb2.ProveRandomnessRequest(origin_key="https:x"))
    assert error_from_rpc(edge.value).code is ErrorCode.PERMISSION_DENIED
