"""``outlayer keystore register`` and ``outlayer attestation verify --from-chain`` against the
register contract on a localnet served over JSON-RPC, its clock moved to 2025-06-25 (when the
real quote's collateral in tests/vectors/tdx is valid)."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from cli.main import main
from devstack.demo import account
from localnet.genesis import new_chain
from localnet.rpc import LocalnetNode, make_server
from outlayer.attestation import verify_quote
from outlayer.attested import public_key_der
from outlayer.near.actions import DeployContractAction
from outlayer.near.keys import Signer
from outlayer.near.rpc import NearRpc
from tests.conftest import built_contract
from tests.contract.test_register import COLLATERAL, COLLATERAL_TEXT, QUOTE, VALID_AT

IDENTITY = "5a" * 32
GENESIS = 1_700_000_000  # localnet's genesis time (unix)


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, NearRpc, Signer, Path]]:
    """(RPC URL, client, the register contract's signer, a user's key file)."""
    built_contract("register")
    tmp = tmp_path_factory.mktemp("register-cli")
    ledger, root = new_chain(tmp / "root.json")
    ledger.advance_time(VALID_AT - GENESIS)
    node = LocalnetNode(ledger, block_time_s=0.05)
    server = make_server(node, "127.0.0.1", 0)
    node.start()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    rpc = NearRpc(url)
    try:
        keys = tmp / "keys"
        contract = account(rpc, root, "register", keys, lambda _: None)
        user = account(rpc, root, "operator", keys, lambda _: None)
        rpc.send(contract, contract.account_id, [DeployContractAction(built_contract("register"))])

        def owner_call(method: str, args: Any) -> Any:
            outcome = rpc.function_call(contract, contract.account_id, method, args)
            assert outcome.failure is None, outcome.failure
            return outcome.value

        owner_call("new", {"owner_id": contract.account_id, "accept_unbound_keys": True})
        while owner_call("update_collateral", {"collateral": COLLATERAL})["status"] == "pending":
            pass
        measured = verify_quote(QUOTE, COLLATERAL_TEXT, VALID_AT).measurements
        owner_call("add_approved_measurements", {"measurements": measured})
        yield url, rpc, contract, keys / f"{user.account_id}.json"
    finally:
        rpc.close()
        server.shutdown()
        node.stop()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_register_then_verify_from_chain_then_revoked(
    chain: tuple[str, NearRpc, Signer, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, rpc, contract, key_file = chain
    quote_file = tmp_path / "quote.bin"
    quote_file.write_bytes(QUOTE)
    tls_key = ec.generate_private_key(ec.SECP256R1())
    cert_file = tmp_path / "tls.pem"
    cert_file.write_bytes(_self_signed(tls_key))
    where = ["--rpc", url, "--register", contract.account_id]
    verify = ["attestation", "verify", "--from-chain", *where, "--identity-key", IDENTITY]
    code, out, _ = run(capsys, *verify)
    assert code == 1 and "no keystore with this identity key" in json.loads(out)["reasons"][0]

    code, out, err = run(capsys, "keystore", "register", *where, "--key-file", str(key_file),
                         "--quote", str(quote_file), "--identity-key", IDENTITY,
                         "--tls-cert", str(cert_file), "--json")  # fmt: skip
    assert code == 0, err
    body = json.loads(out)
    assert body["calls"] == 1 and body["keystore"]["identity_key"] == IDENTITY
    assert body["keystore"]["tls_spki"] == public_key_der(cert_file.read_bytes()).hex()

    code, out, _ = run(capsys, *verify, "--quote", str(quote_file), "--at", str(VALID_AT))
    verdict = json.loads(out)
    # Registered and its quote verifies off chain too; but the stand-in's quote binds the
    # sample's keys, not ours, which a development registration records and the CLI says.
    assert verdict["keystore"]["active"] is True
    assert verdict["reasons"] == ["its quote does not bind its keys (a development registration)"]
    assert code == 1

    revoked = rpc.function_call(contract, contract.account_id, "revoke_keystore",
                                {"identity_key": IDENTITY})  # fmt: skip
    assert revoked.failure is None
    code, out, _ = run(capsys, *verify)
    assert code == 1 and "was revoked" in json.loads(out)["reasons"][0]


def test_register_refusals_read_as_one_line(
    chain: tuple[str, NearRpc, Signer, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, _, contract, key_file = chain
    quote_file = tmp_path / "quote.bin"
    tampered = bytearray(QUOTE)
    tampered[48 + 560] ^= 1
    quote_file.write_bytes(bytes(tampered))
    cert_file = tmp_path / "tls.pem"
    cert_file.write_bytes(_self_signed(ec.generate_private_key(ec.SECP256R1())))
    base = ["keystore", "register", "--rpc", url, "--register", contract.account_id,
            "--key-file", str(key_file)]  # fmt: skip
    code, _, err = run(capsys, *base, "--quote", str(quote_file), "--identity-key", "6b" * 32,
                       "--tls-cert", str(cert_file))  # fmt: skip
    assert code == 1
    assert "signature of the quote (by its attestation key) does not verify" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, *base, "--quote", str(quote_file))
    assert code == 2 and "--identity-key HEX" in err


def _self_signed(key: ec.EllipticCurvePrivateKey) -> bytes:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "keystore.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_secrets_are_stored_for_a_registered_keystore_named_by_its_key(
    chain: tuple[str, NearRpc, Signer, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Where the OutLayer contract has a register contract, `outlayer secrets store` names the
    keystore the blob is encrypted to (`secrets encrypt` prints the command with it)."""
    from devstack.demo import provision

    url, rpc, register, key_file = chain
    root = Signer.load(key_file.parent.parent / "root.json")
    outlayer, _ = provision(rpc, root, key_file.parent, lambda _: None)
    assert rpc.function_call(outlayer, outlayer.account_id, "set_register_contract",
                             {"account_id": register.account_id}).failure is None  # fmt: skip
    assert rpc.function_call(register, register.account_id, "set_subscribers",
                             {"account_ids": [outlayer.account_id]}).failure is None  # fmt: skip
    identity = "7c" * 32
    quote_file = tmp_path / "quote.bin"
    quote_file.write_bytes(QUOTE)
    cert_file = tmp_path / "tls.pem"
    cert_file.write_bytes(_self_signed(ec.generate_private_key(ec.SECP256R1())))
    code, _, err = run(capsys, "keystore", "register", "--rpc", url, "--register",
                       register.account_id, "--key-file", str(key_file), "--quote",
                       str(quote_file), "--identity-key", identity, "--tls-cert",
                       str(cert_file))  # fmt: skip
    assert code == 0, err
    store = ["secrets", "store", "--rpc", url, "--contract", outlayer.account_id, "--key-file",
             str(key_file), "--repo", "https://github.com/a/b", "--profile", "p",
             "--blob", base64.b64encode(bytes(64)).decode()]  # fmt: skip
    code, _, err = run(capsys, *store)
    assert code == 1 and "keystore_key is required" in err
    code, _, err = run(capsys, *store, "--keystore-key", "8d" * 32)
    assert code == 1 and "is not registered" in err
    code, _, err = run(capsys, *store, "--keystore-key", identity, "--json")
    assert code == 0, err
    stored = rpc.view(outlayer.account_id, "get_secrets", {
        "owner": key_file.stem, "repo": "https://github.com/a/b", "profile": "p"})  # fmt: skip
    assert stored["keystore_key"] == identity
