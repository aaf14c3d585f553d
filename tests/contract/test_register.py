"""The register contract on localnet: Intel's real TDX quote and collateral (tests/vectors/tdx,
valid as of 2025-06-25, so the chain's clock starts there) verified on chain, with dcap-qvl (off
chain, outlayer/attestation.py) as the oracle for what the quote says; every refusal path; revoke.
"""

from __future__ import annotations

import ast
import hashlib
import json
import random
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from localnet.chain import Chain
from localnet.node import NEAR, Localnet, TxResult
from outlayer.attestation import verify_quote
from tests.conftest import built_contract
from tests.vectors import TDX as VECTORS

QUOTE = (VECTORS / "tdx_quote").read_bytes()
COLLATERAL_TEXT = (VECTORS / "tdx_quote_collateral.json").read_text()
COLLATERAL = json.loads(COLLATERAL_TEXT)
VALID_AT = 1750809600  # 2025-06-25T00:00:00Z, inside the collateral's validity
TCB_NEXT_UPDATE = 1752920163  # 2025-07-19T10:16:03Z, the TCB info's nextUpdate
PCK_CRL_NEXT_UPDATE = 1752919235  # 2025-07-19T10:00:35Z: the earliest of the collateral's
REGISTER = "register.test"
OWNER = "owner.test"
OPERATOR = "operator.test"
MALLORY = "mallory.test"
TGAS = 10**12
SOURCE = Path(__file__).resolve().parents[2] / "contract" / "register" / "contract.py"
# The keys a keystore binds in report_data[:32] = SHA-256(tls_spki || identity_key).
KEYS = {"identity_key": "11" * 32, "tls_spki": "3059301306072a8648ce3d020106082a8648ce3d03010703"
        "420004" + "22" * 64}  # fmt: skip
ORACLE = verify_quote(QUOTE, COLLATERAL_TEXT, VALID_AT)
MEASURED = ORACLE.measurements


@pytest.fixture(scope="session")
def register_wasm() -> bytes:
    return built_contract("register")


class Register:
    def __init__(self, wasm: bytes, **init: Any) -> None:
        self.ln = Localnet(Chain(genesis_time_ns=VALID_AT * 10**9))
        for account in (REGISTER, OWNER, OPERATOR, MALLORY):
            self.ln.create_account(account, 1000 * NEAR)
        assert self.ln.deploy(REGISTER, wasm).success
        assert self.call(OWNER, "new", {"owner_id": OWNER, **init}).success

    def call(self, signer: str, method: str, args: Any = None, tgas: int = 300) -> TxResult:
        return self.ln.call(signer, REGISTER, method, args, gas=tgas * TGAS)

    def view(self, method: str, args: Any = None) -> Any:
        return self.ln.view(REGISTER, method, args)

    def until_done(self, signer: str, method: str, args: Any, tgas: int = 300) -> list[TxResult]:
        """Calls again with the same arguments while the contract answers "pending"."""
        steps = []
        for _ in range(10):
            result = self.call(signer, method, args, tgas)
            steps.append(result)
            if not result.success or result.json()["status"] != "pending":
                return steps
        raise AssertionError("the verification did not finish in 10 calls")

    def set_collateral(self, collateral: dict[str, str] = COLLATERAL) -> list[TxResult]:
        steps = self.until_done(OWNER, "update_collateral", {"collateral": collateral})
        assert steps[-1].success, steps[-1].failure
        return steps

    def approve(self, measurements: dict[str, str] = MEASURED) -> None:
        assert self.call(OWNER, "add_approved_measurements", {"measurements": measurements}).success

    def register(self, quote: bytes = QUOTE, keys: dict[str, str] = KEYS) -> list[TxResult]:
        return self.until_done(OPERATOR, "register_keystore", {"quote": quote.hex(), "keys": keys})


def refusal(steps: list[TxResult]) -> str:
    assert not steps[-1].success, steps[-1].json()
    return steps[-1].failure or ""


@pytest.fixture
def dev(register_wasm: bytes) -> Register:
    """A development deployment: the stand-in's recorded quote does not bind our keys."""
    reg = Register(register_wasm, accept_unbound_keys=True)
    reg.set_collateral()
    reg.approve()
    return reg


@pytest.fixture
def strict(register_wasm: bytes) -> Register:
    reg = Register(register_wasm)
    reg.set_collateral()
    reg.approve()
    return reg


def test_the_fixed_base_table_holds_k_times_g() -> None:
    tree = ast.parse(SOURCE.read_text())
    (table,) = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "G_HEX"
    ]
    data = bytes.fromhex(ast.literal_eval(table).decode())
    assert len(data) == 255 * 64
    for k in range(1, 256):
        point = ec.derive_private_key(k, ec.SECP256R1()).public_key().public_numbers()
        entry = data[(k - 1) * 64 : k * 64]
        assert entry == point.x.to_bytes(32, "big") + point.y.to_bytes(32, "big"), k


def test_the_pinned_root_is_intels_sgx_root_ca() -> None:
    """The root the contract pins (its certificate's hash and its key) is the one that ends
    Intel's chains in the real collateral."""
    constants = {
        node.targets[0].id: ast.literal_eval(node.value)
        for node in ast.parse(SOURCE.read_text()).body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id in ("ROOT_SHA256", "ROOT_X", "ROOT_Y")
    }
    root = x509.load_pem_x509_certificates(COLLATERAL["pck_crl_issuer_chain"].encode())[-1]
    assert root.subject.rfc4514_string().startswith("C=US,ST=CA,L=Santa Clara,O=Intel")
    assert "CN=Intel SGX Root CA" in root.subject.rfc4514_string()
    der = root.public_bytes(serialization.Encoding.DER)
    assert hashlib.sha256(der).hexdigest() == constants["ROOT_SHA256"]
    key = root.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey)
    assert (key.public_numbers().x, key.public_numbers().y) == (
        constants["ROOT_X"],
        constants["ROOT_Y"],
    )


def test_the_contracts_ecdsa_agrees_with_cryptography(strict: Register) -> None:
    """Random keys and messages (big integers in 32-bit digits, devtools/nearc_patch.py), valid
    and altered signatures, and the two encodings a valid (r, s) has: (r, s) and (r, n - s)."""
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    rng = random.Random(16)
    for _ in range(6):
        key = ec.derive_private_key(rng.randrange(1, order), ec.SECP256R1())
        message = rng.randbytes(40)
        r, s = decode_dss_signature(key.sign(message, ec.ECDSA(hashes.SHA256())))
        point = key.public_key().public_numbers()
        body = {
            "public_key": (point.x.to_bytes(32, "big") + point.y.to_bytes(32, "big")).hex(),
            "digest": hashlib.sha256(message).hexdigest(),
        }

        def holds(r: int, s: int, body: dict[str, str] = body) -> bool:
            sig = (r.to_bytes(32, "big") + s.to_bytes(32, "big")).hex()
            verdict: bool = strict.view("verify_p256", {**body, "signature": sig})
            return verdict

        assert holds(r, s) and holds(r, order - s)
        assert not holds(r, s ^ 1) and not holds(r ^ 1, s) and not holds(0, s)
        assert not holds(r, s, {**body, "digest": hashlib.sha256(message + b".").hexdigest()})


def test_the_real_quote_registers_a_keystore_with_what_dcap_qvl_reads(dev: Register) -> None:
    assert ORACLE.tcb_status == "UpToDate"
    steps = dev.register()
    assert steps[-1].success, steps[-1].failure
    assert [s.json()["status"] for s in steps[:-1]] == ["pending"] * (len(steps) - 1)
    record = steps[-1].json()["keystore"]
    assert record["measurements"] == MEASURED
    assert record["report_data"] == ORACLE.report_data
    assert record["tcb_status"] == ORACLE.tcb_status
    assert record["advisory_ids"] == []
    assert record["keys_bound"] is False  # the recorded quote binds the sample's keys, not ours
    assert record["identity_key"] == KEYS["identity_key"]
    assert record["expires_at"] == PCK_CRL_NEXT_UPDATE * 10**9
    assert dev.view("is_registered", {"identity_key": KEYS["identity_key"]}) is True
    assert dev.view("is_registered", {"identity_key": "22" * 32}) is False
    (listed,) = dev.view("get_keystores")
    assert listed["quote_sha256"] == record["quote_sha256"] and listed["active"] is True
    assert any(log.startswith("EVENT_JSON:") for log in steps[-1].logs)


def test_a_verification_goes_on_across_calls_and_records_only_at_the_end(dev: Register) -> None:
    register = {"quote": QUOTE.hex(), "keys": KEYS}
    starved = dev.call(OPERATOR, "register_keystore", register, tgas=100)
    assert "not enough gas left for a signature check" in (starved.failure or "")
    steps = dev.until_done(OPERATOR, "register_keystore", register, tgas=150)
    assert [s.json()["status"] for s in steps] == ["pending", "pending", "registered"]
    assert [s.json().get("verified") for s in steps[:2]] == [1, 2]
    assert steps[0].json()["next"] == "QE report (by the PCK key)"
    assert (
        dev.view("get_keystores")[0]["registered_at"]
        == steps[-1].json()["keystore"]["registered_at"]
    )
    # The progress is gone once used; the PCK certificate is remembered: 2 signatures now.
    again = dev.until_done(OPERATOR, "register_keystore", register, tgas=150)
    assert [s.json().get("verified") for s in again] == [1, None]


def test_collateral_is_verified_when_set_and_kept_for_clients(register_wasm: bytes) -> None:
    reg = Register(register_wasm)
    steps = reg.set_collateral()
    assert [s.json()["status"] for s in steps] == ["pending", "updated"]  # 6 signatures: 2 calls
    stored = reg.view("get_collateral", {"fmspc": "B0C06F000000"})
    assert stored["collateral"] == COLLATERAL  # what `attestation verify --from-chain` reads
    assert stored["fmspc"] == "b0c06f000000" and stored["tcb_evaluation_data_number"] == 17
    tampered = {
        **COLLATERAL,
        "tcb_info": COLLATERAL["tcb_info"].replace('"pcesvn":11', '"pcesvn":1'),
    }
    assert "signature of the TCB info does not verify" in refusal(
        reg.until_done(OWNER, "update_collateral", {"collateral": tampered})
    )
    foreign = {**COLLATERAL, "pck_crl_issuer_chain": COLLATERAL["tcb_info_issuer_chain"]}
    assert "pck_crl is not issued by the PCK Platform CA" in refusal(
        reg.until_done(OWNER, "update_collateral", {"collateral": foreign})
    )
    other = reg.until_done(MALLORY, "update_collateral", {"collateral": COLLATERAL})
    assert "only the owner" in refusal(other)


def test_a_tampered_quote_is_refused(dev: Register) -> None:
    nonce = bytearray(QUOTE)
    nonce[48 + 560] ^= 1  # report_data's second half: only the quote's signature covers it
    assert "signature of the quote (by its attestation key) does not verify" in refusal(
        dev.register(bytes(nonce))
    )
    qe_report = bytearray(QUOTE)
    qe_report[636 + 134 + 10] ^= 1  # the QE report's CPUSVN: only the PCK key's signature
    assert "signature of the QE report (by the PCK key) does not verify" in refusal(
        dev.register(bytes(qe_report))
    )
    assert dev.view("get_keystores") == []


def test_what_is_not_a_quote_is_refused_with_what_is_wrong(dev: Register) -> None:
    assert "too short to be a TDX quote" in refusal(dev.register(b"not a quote"))
    sgx = bytearray(QUOTE)
    sgx[4] = 0  # TEE type SGX
    assert "not a TDX quote v4" in refusal(dev.register(bytes(sgx)))
    assert "signature data is truncated" in refusal(dev.register(QUOTE[:2000]))
    bad_keys = {"identity_key": "11" * 31, "tls_spki": KEYS["tls_spki"]}
    assert "keys.identity_key must be 32 bytes" in refusal(dev.register(keys=bad_keys))
    odd = dev.until_done(OPERATOR, "register_keystore", {"quote": "xyz", "keys": KEYS})
    assert "quote is not hexadecimal" in refusal(odd)


def test_older_collateral_does_not_replace_newer(strict: Register) -> None:
    older = COLLATERAL["tcb_info"].replace(
        '"tcbEvaluationDataNumber":17', '"tcbEvaluationDataNumber":16'
    )
    steps = strict.until_done(
        OWNER, "update_collateral", {"collateral": {**COLLATERAL, "tcb_info": older}}
    )
    assert "older than the one set (tcbEvaluationDataNumber 16 < 17)" in refusal(steps)


def test_a_measurement_set_not_approved_is_refused(strict: Register) -> None:
    assert strict.call(OWNER, "remove_approved_measurements", {"measurements": MEASURED}).success
    strict.approve({**MEASURED, "rtmr1": "ff" * 48})
    assert "are not an approved set" in refusal(strict.register())
    assert strict.view("get_approved_measurements") == [{**MEASURED, "rtmr1": "ff" * 48}]


def test_expired_collateral_is_refused(register_wasm: bytes, dev: Register) -> None:
    dev.ln.chain.advance_time(TCB_NEXT_UPDATE - VALID_AT)
    assert "collateral for FMSPC b0c06f000000 expired" in refusal(dev.register())
    late = Register(register_wasm)
    late.ln.chain.advance_time(TCB_NEXT_UPDATE - VALID_AT)
    assert "is expired or not yet valid at the block time" in refusal(
        late.until_done(OWNER, "update_collateral", {"collateral": COLLATERAL})
    )


def test_a_registration_lapses_when_its_collateral_expires(dev: Register) -> None:
    assert dev.register()[-1].success
    dev.ln.chain.advance_time(PCK_CRL_NEXT_UPDATE - VALID_AT)
    dev.approve()  # any transaction: a block at the new time
    assert dev.view("is_registered", {"identity_key": KEYS["identity_key"]}) is False


def test_an_out_of_date_tdx_module_is_refused(dev: Register) -> None:
    """Intel's TCB info rates this platform's TDX module (TDX_01) OutOfDate below SVN 4; the
    real quote's is 6. With its SVN lowered the quote is refused for its TCB status (before its
    signature, which the change also breaks, is checked)."""
    old_module = bytearray(QUOTE)
    assert old_module[48] == 6 and old_module[49] == 1  # tee_tcb_svn: module SVN 6, TDX_01
    old_module[48] = 3
    assert "the TDX module TCB status is OutOfDate, not UpToDate" in refusal(
        dev.register(bytes(old_module))
    )


def test_report_data_must_bind_the_keys(strict: Register) -> None:
    message = refusal(strict.register())
    assert "report_data does not bind these keys" in message
    assert "SHA-256(tls_spki || identity_key)" in message
    assert strict.view("get_keystores") == []


def test_revoke(dev: Register) -> None:
    assert dev.register()[-1].success
    identity = {"identity_key": KEYS["identity_key"]}
    assert "only the owner" in (dev.call(MALLORY, "revoke_keystore", identity).failure or "")
    assert dev.call(OWNER, "revoke_keystore", identity).success
    assert dev.view("is_registered", identity) is False
    assert dev.view("get_keystore", identity)["revoked_at"] is not None
    assert "was revoked by the owner" in refusal(dev.register())
    missing = dev.call(OWNER, "revoke_keystore", {"identity_key": "33" * 32})
    assert "no keystore is registered" in (missing.failure or "")


def test_the_outlayer_contract_takes_secrets_only_for_a_registered_keystore(dev: Register) -> None:
    ln = dev.ln
    outlayer = "outlayer.test"
    ln.create_account(outlayer, 1000 * NEAR)
    assert ln.deploy(outlayer, built_contract("outlayer")).success
    assert ln.call(OWNER, outlayer, "new", {"owner_id": OWNER}).success
    assert ln.call(OWNER, outlayer, "set_register_contract", {"account_id": REGISTER}).success
    assert dev.call(OWNER, "set_subscribers", {"account_ids": [outlayer]}).success
    secrets = {
        "repo": "https://github.com/alice/hello",
        "profile": "prod",
        "encrypted_secrets_base64": "c2VjcmV0",
        "keystore_key": KEYS["identity_key"],
    }

    def store(fields: dict[str, Any]) -> TxResult:
        return ln.call(OPERATOR, outlayer, "store_secrets", fields, deposit=NEAR)

    assert "is not registered in register.test" in (store(secrets).failure or "")
    assert dev.register()[-1].success  # the register contract tells OutLayer
    status = ln.view(outlayer, "get_keystore_status", {"identity_key": KEYS["identity_key"]})
    assert status["active"] is True and status["expires_at"] == PCK_CRL_NEXT_UPDATE * 10**9
    assert store(secrets).success
    stored = ln.view(outlayer, "get_secrets", {"owner": OPERATOR, "repo": secrets["repo"],
                                               "profile": "prod"})  # fmt: skip
    assert stored["keystore_key"] == KEYS["identity_key"]
    unnamed = {k: v for k, v in secrets.items() if k != "keystore_key"}
    assert "keystore_key is required" in (store(unnamed).failure or "")
    forged = {"identity_key": "44" * 32, "active": True, "expires_at": 2**62}
    assert "only the register contract" in (
        ln.call(MALLORY, outlayer, "on_keystore_update", forged).failure or ""
    )
    identity = {"identity_key": KEYS["identity_key"]}
    assert dev.call(OWNER, "revoke_keystore", identity).success
    assert ln.view(outlayer, "get_keystore_status", identity)["active"] is False
    assert "was revoked in register.test" in (store(secrets).failure or "")
