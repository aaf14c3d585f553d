"""TDX quote verification against the real quote and Intel collateral in tests/vectors/tdx
(valid as of 2025-06-25): every refusal path, and the CLI's verdict and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from outlayer.attestation import Verdict, load_allowlist, verify_quote
from tests.vectors import TDX as VECTORS

QUOTE = VECTORS / "tdx_quote"
COLLATERAL = VECTORS / "tdx_quote_collateral.json"
VALID_AT = 1750809600  # 2025-06-25T00:00:00Z, inside the collateral's validity
NOW = 1795549254  # 2026-11: the CRL has expired
# The measurements the test vectors' README lists for this quote.
MEASURED = {
    "mrtd": "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407"
    "de03ae6dc5f87f27428b2538873118b7",
    "rtmr0": "44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c"
    "48aca29b220b80b6a540cf994b9bc9c0",
    "rtmr1": "0084452c01668329d4bc06acdf58a7205c26743304509973949e5619bf81a6a7"
    "aea8c323c173019b3093d54e579e9378",
    "rtmr2": "d833feef2cd945148aa38ead2c53e9b7f138190aaaebfc551dccd829fc207aa3"
    "ba80b70870d7330733642e01d48c3132",
    "rtmr3": "0" * 96,
}
REPORT_DATA = bytes.fromhex(
    "9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9"
    "eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20"
)


def verify(
    quote: bytes | None = None,
    at: int = VALID_AT,
    allowlist: list[dict[str, str]] | None = None,
    expected_report_data: bytes | None = None,
) -> Verdict:
    data = QUOTE.read_bytes() if quote is None else quote
    return verify_quote(
        data,
        COLLATERAL.read_text(),
        at,
        allowlist=allowlist,
        expected_report_data=expected_report_data,
    )


def test_the_real_quote_verifies_with_its_measurements_and_report_data() -> None:
    verdict = verify(allowlist=[MEASURED], expected_report_data=REPORT_DATA)
    assert verdict.valid, verdict.reasons
    assert verdict.tcb_status == "UpToDate"
    assert verdict.measurements == MEASURED
    assert verdict.report_data == REPORT_DATA.hex()


def test_expired_collateral_is_refused() -> None:
    verdict = verify(at=NOW, allowlist=[MEASURED])
    assert not verdict.valid
    assert any("CrlExpired" in reason for reason in verdict.reasons)


# Header (0-47) and TD report (48-631): the quote body; then the quote's ECDSA signature and
# attestation key (636-763).
SIGNED = [*range(0, 632), *range(636, 764)]


def test_every_tampered_byte_of_the_body_and_its_signature_is_refused() -> None:
    original = QUOTE.read_bytes()
    accepted = []
    for offset in SIGNED:
        tampered = bytearray(original)
        tampered[offset] ^= 0x01
        if verify(bytes(tampered), allowlist=[MEASURED]).valid:
            accepted.append(offset)
    assert accepted == []


def test_measurements_not_on_the_allow_list_are_refused_despite_a_valid_chain() -> None:
    other = {**MEASURED, "rtmr1": "ff" * 48}
    verdict = verify(allowlist=[other])
    assert not verdict.valid
    assert verdict.tcb_status == "UpToDate"  # the signature chain itself was fine
    assert verdict.reasons == ["the measurements (MRTD, RTMR0-3) are not on the allow-list"]


def test_report_data_must_match_what_is_expected() -> None:
    verdict = verify(allowlist=[MEASURED], expected_report_data=bytes(64))
    assert not verdict.valid
    assert "report_data does not match" in verdict.reasons[0]


def test_garbage_is_not_a_quote() -> None:
    verdict = verify(b"not a quote at all")
    assert not verdict.valid
    assert any("cannot be parsed" in reason for reason in verdict.reasons)


def outlayer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cli.main", "attestation", "verify",
                           "--quote", str(QUOTE), "--collateral", str(COLLATERAL), *args],
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


def test_cli_verdicts_and_exit_codes(tmp_path: Path) -> None:
    allowlist = tmp_path / "allow.json"
    allowlist.write_text(json.dumps({"measurements": [MEASURED]}))
    valid = outlayer("--at", str(VALID_AT), "--measurements", str(allowlist),
                     "--report-data", REPORT_DATA.hex())  # fmt: skip
    assert valid.returncode == 0, valid.stdout
    body = json.loads(valid.stdout)
    assert body["valid"] is True and body["measurements"]["mrtd"] == MEASURED["mrtd"]
    expired = outlayer("--at", str(NOW), "--measurements", str(allowlist))
    assert expired.returncode == 1 and json.loads(expired.stdout)["valid"] is False
    mismatch = outlayer("--at", str(VALID_AT), "--report-data", "00" * 64)
    assert mismatch.returncode == 1
    bad_hex = outlayer("--report-data", "xyz")
    assert bad_hex.returncode == 2 and "hexadecimal" in bad_hex.stderr


def test_a_malformed_allow_list_says_what_it_expects(tmp_path: Path) -> None:
    broken = tmp_path / "allow.json"
    broken.write_text('{"measurements": [{"mrtd": "00"}]}')
    with pytest.raises(Exception, match="lacks rtmr0"):
        load_allowlist(broken)
