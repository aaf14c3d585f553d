"""The dashboard verifies a TDX quote in the browser (dashboard/src/dcap.ts, attest.ts): the real
quote and Intel collateral verify with the TCB status and advisories dcap-qvl finds, and each way
a quote or its collateral can be wrong is refused with its reason. What Intel's signatures make
unforgeable (a revoked serial, TCB info for another platform) is reached with a PKI of our own
(forged_tdx.py), pinned in place of Intel's root; dcap-qvl is asked the same with that root."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import dcap_qvl
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from outlayer.attested import development_statement
from outlayer.tls import ensure_dev_pki
from tests.dashboard.forged_tdx import ForgedTdx
from tests.dashboard.node_ts import compile_modules, run_node
from tests.test_attestation import COLLATERAL, MEASURED, NOW, QUOTE, REPORT_DATA, VALID_AT

VERIFY_JS = """
import { readFileSync } from 'node:fs';
import { verifyQuote } from './dcap.js';
const [quote, collateral, at, root] = process.argv.slice(2);
const options = root ? { rootCaDer: readFileSync(root) } : {};
const text = readFileSync(collateral, 'utf8');
const verdict = verifyQuote(readFileSync(quote), text, Number(at), options);
console.log(JSON.stringify(verdict));
"""
JUDGE_JS = """
import { readFileSync } from 'node:fs';
import { assertEncryptable, judgeAttestation } from './attest.js';
const input = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const { attestation, nonce, at, allowlist, root } = input;
const options = root ? { rootCaDer: Buffer.from(root, 'hex') } : {};
const verdict = judgeAttestation(attestation, Buffer.from(nonce, 'hex'), at, allowlist, options);
let refusal = null;
try { assertEncryptable(verdict); } catch (e) { refusal = e.message; }
console.log(JSON.stringify({ ...verdict, attestation: undefined, refusal }));
"""


@pytest.fixture(scope="module")
def js(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = compile_modules(tmp_path_factory.mktemp("dcap-js"), "dcap", "attest")
    (out / "verify.js").write_text(VERIFY_JS)
    (out / "judge.js").write_text(JUDGE_JS)
    return out


@pytest.fixture(scope="module")
def forged() -> ForgedTdx:
    return ForgedTdx(QUOTE.read_bytes(), json.loads(COLLATERAL.read_text()))


def verify(
    js: Path,
    quote: Path = QUOTE,
    collateral: Path = COLLATERAL,
    at: int = VALID_AT,
    root: Path | None = None,
) -> dict[str, Any]:
    extra = [root] if root is not None else []
    verdict: dict[str, Any] = run_node(js / "verify.js", quote, collateral, str(at), *extra)
    return verdict


def failed(verdict: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["detail"] for c in verdict["checks"] if not c["ok"]}


def tampered(tmp_path: Path, offset: int, quote: bytes | None = None) -> Path:
    data = bytearray(QUOTE.read_bytes() if quote is None else quote)
    data[offset] ^= 0x01
    path = tmp_path / f"quote-{offset}"
    path.write_bytes(bytes(data))
    return path


# --- the real quote -----------------------------------------------------------------------------
def test_the_real_quote_verifies_as_dcap_qvl_verifies_it(js: Path) -> None:
    expected = dcap_qvl.verify(
        QUOTE.read_bytes(), dcap_qvl.QuoteCollateralV3.from_json(COLLATERAL.read_text()), VALID_AT
    )
    verdict = verify(js)
    assert verdict["reasons"] == []
    assert verdict["ok"] is True
    assert verdict["tcb_status"] == expected.status == "UpToDate"
    assert verdict["advisory_ids"] == sorted(expected.advisory_ids)
    assert (verdict["qe_tcb_status"], verdict["tdx_module_tcb_status"]) == ("UpToDate", "UpToDate")
    assert (
        verdict["fmspc"]
        == json.loads(json.loads(COLLATERAL.read_text())["tcb_info"])["fmspc"].lower()
    )
    assert verdict["measurements"] == {**MEASURED, "report_data": REPORT_DATA.hex()}
    assert [c["id"] for c in verdict["checks"]] == [
        "quote",
        "collateral",
        "pck_chain",
        "tcb_signing_chain",
        "pck_crl_chain",
        "crls",
        "qe_report_signature",
        "qe_report_binds_key",
        "quote_signature",
        "tcb_info",
        "qe_identity",
        "tcb_level",
        "tdx_module",
        "qe_tcb_level",
        "td_attributes",
        "tcb_status",
    ]
    assert verdict["collateral_expires_at"] == 1752919235  # the PCK CRL's nextUpdate (2025-07-19)


def test_a_flipped_byte_of_the_quote_body_breaks_its_signature(js: Path, tmp_path: Path) -> None:
    for offset in (48 + 136, 48 + 520, 60):  # MRTD, report_data, the header
        verdict = verify(js, tampered(tmp_path, offset))
        assert verdict["ok"] is False
        assert failed(verdict) == {
            "quote_signature": "the quote's signature does not verify with its "
            "attestation key: the quote was altered"
        }


def test_a_flipped_byte_of_the_qe_report_breaks_the_pck_signature(js: Path, tmp_path: Path) -> None:
    verdict = verify(
        js, tampered(tmp_path, 636 + 134 + 100)
    )  # inside the QE report, a reserved byte
    assert failed(verdict) == {
        "qe_report_signature": "the signature of the QE report does not verify "
        "with the PCK certificate's key"
    }
    binding = verify(js, tampered(tmp_path, 636 + 134 + 330))  # its report_data
    assert set(failed(binding)) == {"qe_report_signature", "qe_report_binds_key"}


def test_a_pck_chain_not_to_intels_root_is_refused(
    js: Path, forged: ForgedTdx, tmp_path: Path
) -> None:
    quote, collateral = forged.write(tmp_path, "forged", forged.quote(), forged.collateral())
    verdict = verify(js, quote, collateral)
    assert verdict["ok"] is False
    assert failed(verdict)["pck_chain"] == (
        "the quote's PCK chain does not end in Intel's SGX Root CA "
        "(SHA-256 44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3)"
    )
    # Intel's collateral with the forged quote: the chain is still the reason.
    assert "pck_chain" in failed(verify(js, quote, COLLATERAL))


def test_a_tampered_tcb_info_signature_is_refused(js: Path, tmp_path: Path) -> None:
    collateral = json.loads(COLLATERAL.read_text())
    signature = bytearray.fromhex(collateral["tcb_info_signature"])
    signature[10] ^= 0x01
    collateral["tcb_info_signature"] = signature.hex()
    path = tmp_path / "collateral.json"
    path.write_text(json.dumps(collateral))
    verdict = verify(js, collateral=path)
    assert failed(verdict) == {
        "tcb_info": "the signature of the TCB info does not verify with Intel's TCB signing key"
    }
    assert verdict["tcb_status"] is None  # no TCB level is read from unsigned TCB info
    with pytest.raises(ValueError):
        dcap_qvl.verify(
            QUOTE.read_bytes(), dcap_qvl.QuoteCollateralV3.from_json(path.read_text()), VALID_AT
        )


def test_expired_collateral_is_refused(js: Path) -> None:
    verdict = verify(js, at=NOW)
    assert verdict["ok"] is False
    reasons = failed(verdict)
    assert reasons["crls"].startswith("root_ca_crl is not current at 2026-11-")
    assert (
        "not current at" in reasons["tcb_info"] and "fetch fresh collateral" in reasons["tcb_info"]
    )
    assert "not current at" in reasons["qe_identity"]
    before = failed(verify(js, at=VALID_AT - 7 * 86400))  # 2025-06-18: before it was issued
    assert before["tcb_info"].startswith(
        "the TCB info is not current at 2025-06-18T00:00:00Z (2025-06-19"
    )


def test_what_is_not_a_quote_or_collateral_is_refused(js: Path, tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_bytes(QUOTE.read_bytes()[:400])
    assert failed(verify(js, short)) == {"quote": "the quote is truncated"}
    short.write_bytes(QUOTE.read_bytes()[:700])
    assert failed(verify(js, short)) == {"quote": "the quote's signature data is truncated"}
    sgx = tmp_path / "sgx"
    data = QUOTE.read_bytes()
    sgx.write_bytes(data[:4] + (0).to_bytes(4, "little") + data[8:])
    assert failed(verify(js, sgx)) == {"quote": "not a TDX quote (TEE type 0x0)"}
    partial = tmp_path / "partial.json"
    partial.write_text(
        json.dumps({k: v for k, v in json.loads(COLLATERAL.read_text()).items() if k != "pck_crl"})
    )
    assert failed(verify(js, collateral=partial)) == {
        "collateral": "the collateral lacks pck_crl (a string, as dcap-qvl's JSON writes it)"
    }


# --- under a root of our own: what Intel's signatures keep out of reach -------------------------
def test_the_forged_pki_verifies_under_its_own_root_as_dcap_qvl_does(
    js: Path, forged: ForgedTdx, tmp_path: Path
) -> None:
    quote, collateral = forged.write(tmp_path, "forged", forged.quote(), forged.collateral())
    root = tmp_path / "root.der"
    root.write_bytes(forged.root_der)
    expected = dcap_qvl.verify_with_root_ca(
        quote.read_bytes(),
        dcap_qvl.QuoteCollateralV3.from_json(collateral.read_text()),
        forged.root_der,
        VALID_AT,
    )
    verdict = verify(js, quote, collateral, root=root)
    assert verdict["reasons"] == []
    assert verdict["tcb_status"] == expected.status == "UpToDate"


def test_an_out_of_date_tcb_level_gives_dcap_qvls_status_and_advisories(
    js: Path, forged: ForgedTdx, tmp_path: Path
) -> None:
    info = json.loads(forged.real["tcb_info"])
    info["tcbLevels"][0]["tcbStatus"] = "OutOfDate"
    info["tcbLevels"][0]["advisoryIDs"] = ["INTEL-SA-00837", "INTEL-SA-00615"]
    quote, collateral = forged.write(
        tmp_path, "old", forged.quote(), forged.collateral(tcb_info=info)
    )
    root = tmp_path / "root.der"
    root.write_bytes(forged.root_der)
    expected = dcap_qvl.verify_with_root_ca(
        quote.read_bytes(),
        dcap_qvl.QuoteCollateralV3.from_json(collateral.read_text()),
        forged.root_der,
        VALID_AT,
    )
    verdict = verify(js, quote, collateral, root=root)
    assert verdict["tcb_status"] == expected.status == "OutOfDate"
    assert (
        verdict["advisory_ids"]
        == sorted(expected.advisory_ids)
        == ["INTEL-SA-00615", "INTEL-SA-00837"]
    )
    assert failed(verdict) == {
        "tcb_status": "the TCB status is OutOfDate (advisories INTEL-SA-00615, "
        "INTEL-SA-00837), not UpToDate: the platform must be patched"
    }


def test_a_revoked_serial_is_refused(js: Path, forged: ForgedTdx, tmp_path: Path) -> None:
    root = tmp_path / "root.der"
    root.write_bytes(forged.root_der)
    quote = forged.quote()
    cases = {
        "pck": (
            forged.collateral(pck_revoked=[5, forged.serial(forged.pck)]),
            f"the PCK certificate (serial {forged.serial(forged.pck):x}) is revoked by Intel's "
            "PCK CRL",
        ),
        "platform": (
            forged.collateral(root_revoked=[forged.serial(forged.platform)]),
            f"Test SGX PCK Platform CA (serial {forged.serial(forged.platform):x}) is revoked by "
            "Intel's root CA CRL",
        ),
    }
    for name, (collateral, reason) in cases.items():
        q, c = forged.write(tmp_path, name, quote, collateral)
        verdict = verify(js, q, c, root=root)
        assert failed(verdict) == {"crls": reason}, name
        with pytest.raises(ValueError):  # dcap-qvl refuses it too
            dcap_qvl.verify_with_root_ca(
                quote,
                dcap_qvl.QuoteCollateralV3.from_json(c.read_text()),
                forged.root_der,
                VALID_AT,
            )


def test_tcb_info_for_another_platform_is_refused(
    js: Path, forged: ForgedTdx, tmp_path: Path
) -> None:
    info = json.loads(forged.real["tcb_info"])
    info["fmspc"] = "00906ED50000"
    quote, collateral = forged.write(
        tmp_path, "fmspc", forged.quote(), forged.collateral(tcb_info=info)
    )
    root = tmp_path / "root.der"
    root.write_bytes(forged.root_der)
    verdict = verify(js, quote, collateral, root=root)
    assert failed(verdict) == {
        "tcb_info": "the TCB info is for FMSPC 00906ed50000, not this platform's b0c06f000000"
    }
    assert verdict["tcb_status"] is None
    with pytest.raises(ValueError, match=r"(?i)fmspc"):
        dcap_qvl.verify_with_root_ca(
            quote.read_bytes(),
            dcap_qvl.QuoteCollateralV3.from_json(collateral.read_text()),
            forged.root_der,
            VALID_AT,
        )


# --- the keystore's attestation, judged as the Secrets and Attestation pages judge it -----------
def keystore_keys(tmp_path: Path) -> tuple[str, bytes, str]:
    """A TLS certificate (PEM), its SubjectPublicKeyInfo, and an identity key (hex)."""
    pki = tmp_path / "pki"
    ensure_dev_pki(pki)
    pem = (pki / "edge.pem").read_text()
    cert = x509.load_pem_x509_certificate(pem.encode())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem, spki, "ab" * 32


def judge(
    js: Path,
    tmp_path: Path,
    attestation: dict[str, Any],
    nonce: bytes,
    *,
    allowlist: list[dict[str, str]] | None = None,
    root: bytes | None = None,
) -> dict[str, Any]:
    path = tmp_path / "judge.json"
    path.write_text(
        json.dumps(
            {
                "attestation": attestation,
                "nonce": nonce.hex(),
                "at": VALID_AT,
                "allowlist": allowlist,
                "root": root.hex() if root else None,
            }
        )
    )
    verdict: dict[str, Any] = run_node(js / "judge.js", path)
    return verdict


def test_a_genuine_quote_binding_other_keys_is_refused_and_nothing_encrypted(
    js: Path, tmp_path: Path
) -> None:
    pem, spki, identity = keystore_keys(tmp_path)
    nonce = bytes(range(32))
    expected = hashlib.sha256(spki + bytes.fromhex(identity)).hexdigest() + nonce.hex()
    attestation = {
        "mode": "tdx",
        "identity": identity,
        "tls_certificate_pem": pem,
        "report_data": expected,
        "quote": base64.b64encode(QUOTE.read_bytes()).decode(),
        "collateral_json": COLLATERAL.read_text(),
    }
    verdict = judge(js, tmp_path, attestation, nonce)
    assert verdict["ok"] is False
    assert verdict["dcap"]["ok"] is True and verdict["dcap"]["tcb_status"] == "UpToDate"
    reason = (
        "the quote's report_data does not bind this keystore's TLS key, identity and our nonce: it "
        "vouches for other keys (or another nonce)"
    )
    assert verdict["reasons"] == [reason]
    assert (
        verdict["refusal"]
        == f"the keystore's attestation is not verified, nothing is encrypted to it: {reason}"
    )


def test_a_quote_binding_the_keystores_keys_is_accepted_and_checked_against_the_allow_list(
    js: Path, forged: ForgedTdx, tmp_path: Path
) -> None:
    pem, spki, identity = keystore_keys(tmp_path)
    nonce = bytes(range(32))
    bound = hashlib.sha256(spki + bytes.fromhex(identity)).digest() + nonce
    attestation = {
        "mode": "tdx",
        "identity": identity,
        "tls_certificate_pem": pem,
        "report_data": bound.hex(),
        "quote": base64.b64encode(forged.quote(report_data=bound)).decode(),
        "collateral_json": json.dumps(forged.collateral()),
    }
    verdict = judge(js, tmp_path, attestation, nonce, root=forged.root_der)
    assert (verdict["ok"], verdict["reasons"], verdict["refusal"]) == (True, [], None)
    assert "allowlisted" not in verdict  # none set: the page shows them to compare
    listed = judge(js, tmp_path, attestation, nonce, allowlist=[MEASURED], root=forged.root_der)
    assert (listed["ok"], listed["allowlisted"]) == (True, True)
    other = judge(
        js,
        tmp_path,
        attestation,
        nonce,
        allowlist=[{**MEASURED, "rtmr3": "11" * 48}],
        root=forged.root_der,
    )
    assert other["ok"] is False
    assert other["reasons"] == [
        "the measurements (MRTD, RTMR0-3) are not on this browser's allow-list: "
        "the keystore runs other code"
    ]
    # Another nonce (a replayed attestation) is refused.
    replay = judge(js, tmp_path, attestation, bytes(32), root=forged.root_der)
    assert replay["ok"] is False and "does not bind" in replay["reasons"][0]
    # Under Intel's root (no test root given) the forged chain is refused.
    pinned = judge(js, tmp_path, attestation, nonce)
    assert any("does not end in Intel's SGX Root CA" in r for r in pinned["reasons"])


def test_an_attestation_with_unreadable_keys_or_mode_is_refused(js: Path, tmp_path: Path) -> None:
    pem, _, identity = keystore_keys(tmp_path)
    unknown = judge(
        js,
        tmp_path,
        {"mode": "sgx", "identity": identity, "tls_certificate_pem": pem, "quote": ""},
        bytes(32),
    )
    assert unknown["reasons"] == ['unknown attestation mode "sgx"']
    garbled = judge(
        js,
        tmp_path,
        {"mode": "tdx", "identity": "zz", "tls_certificate_pem": pem, "quote": ""},
        bytes(32),
    )
    assert garbled["reasons"][0].startswith(
        "the attestation's certificate or identity cannot be read"
    )
    assert garbled["refusal"].startswith("the keystore's attestation is not verified")


def test_a_development_statement_binds_its_keys_and_nothing_more(js: Path, tmp_path: Path) -> None:
    pem, spki, identity = keystore_keys(tmp_path)
    nonce = bytes(range(32))
    expected = hashlib.sha256(spki + bytes.fromhex(identity)).digest() + nonce
    attestation = {
        "mode": "development",
        "identity": identity,
        "tls_certificate_pem": pem,
        "report_data": expected.hex(),
        "quote": base64.b64encode(development_statement(expected)).decode(),
    }
    verdict = judge(js, tmp_path, attestation, nonce)
    assert (verdict["ok"], verdict["reasons"], verdict["refusal"]) == (True, [], None)
    assert "dcap" not in verdict  # no TDX: the pages say so
    replayed = judge(js, tmp_path, attestation, bytes(32))
    assert replayed["reasons"] == ["the development statement does not bind this key and our nonce"]
