"""Verifying an Intel TDX quote: Intel's signature chain and collateral (dcap-qvl), the TCB
status, the measurements against an allow-list, and the report data against what is expected.

A verdict is ``valid`` only when every check passes; ``reasons`` says which did not, in words an
operator can act on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dcap_qvl

from outlayer.errors import invalid_argument

MEASUREMENTS = ("mrtd", "rtmr0", "rtmr1", "rtmr2", "rtmr3")
ACCEPTED_TCB = frozenset({"UpToDate"})


@dataclass(frozen=True)
class Verdict:
    valid: bool
    tcb_status: str | None
    measurements: dict[str, str]
    report_data: str | None
    reasons: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "tcb_status": self.tcb_status,
            "measurements": self.measurements,
            "report_data": self.report_data,
            "reasons": self.reasons,
        }


def load_allowlist(path: Path) -> list[dict[str, str]]:
    """``{"measurements": [{"mrtd": hex, "rtmr0": hex, ..., "rtmr3": hex}, ...]}``."""
    try:
        entries = json.loads(path.read_text())["measurements"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise invalid_argument(
            f"cannot read the measurement allow-list {path}: {exc}; expected "
            '{"measurements": [{"mrtd": "...", "rtmr0": "...", "rtmr1": "...", "rtmr2": "...", '
            '"rtmr3": "..."}]}'
        ) from None
    allowed = []
    for entry in entries:
        missing = [name for name in MEASUREMENTS if name not in entry]
        if missing:
            raise invalid_argument(f"allow-list entry {entry} lacks {', '.join(missing)}")
        allowed.append({name: str(entry[name]).lower() for name in MEASUREMENTS})
    return allowed


def verify_quote(
    quote: bytes,
    collateral_json: str,
    at_unix: int,
    *,
    allowlist: list[dict[str, str]] | None = None,
    expected_report_data: bytes | None = None,
    accepted_tcb: frozenset[str] = ACCEPTED_TCB,
) -> Verdict:
    reasons: list[str] = []
    measurements: dict[str, str] = {}
    report_data: str | None = None
    try:
        parsed = dcap_qvl.parse_quote(quote)
        report = parsed.report
        measurements = {
            "mrtd": bytes(report.mr_td).hex(),
            "rtmr0": bytes(report.rt_mr0).hex(),
            "rtmr1": bytes(report.rt_mr1).hex(),
            "rtmr2": bytes(report.rt_mr2).hex(),
            "rtmr3": bytes(report.rt_mr3).hex(),
        }
        report_data = bytes(report.report_data).hex()
        if not parsed.is_tdx():
            reasons.append("the quote is not a TDX quote")
    except (ValueError, AttributeError) as exc:
        reasons.append(f"the quote cannot be parsed: {exc}")
    tcb_status = None
    try:
        collateral = dcap_qvl.QuoteCollateralV3.from_json(collateral_json)
        verified = dcap_qvl.verify(quote, collateral, at_unix)
        tcb_status = str(verified.status)
        if tcb_status not in accepted_tcb:
            accepted = ", ".join(sorted(accepted_tcb))
            reasons.append(f"TCB status {tcb_status} is not accepted (accepted: {accepted})")
    except ValueError as exc:
        reasons.append(f"signature chain or collateral check failed: {_first_line(exc)}")
    if allowlist is not None and measurements and measurements not in allowlist:
        reasons.append("the measurements (MRTD, RTMR0-3) are not on the allow-list")
    if (
        expected_report_data is not None
        and report_data is not None
        and bytes.fromhex(report_data) != expected_report_data
    ):
        reasons.append("report_data does not match the expected value (key or nonce differ)")
    return Verdict(not reasons, tcb_status, measurements, report_data, reasons)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
