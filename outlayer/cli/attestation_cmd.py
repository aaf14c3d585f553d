"""``outlayer attestation verify``: check a keystore's TDX quote before trusting it."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from outlayer.errors import invalid_argument


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "attestation", help="verify Intel TDX attestation"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify",
        help="verify a TDX quote against Intel collateral; prints one JSON verdict",
        description="Exit 0 only when the quote is valid: signature chain, collateral, TCB "
        "status, measurements (with --measurements) and report data (with --report-data).",
    )
    verify.add_argument("--quote", type=Path, required=True, metavar="FILE")
    verify.add_argument("--collateral", type=Path, required=True, metavar="FILE")
    verify.add_argument("--at", type=int, metavar="UNIX_TIME", help="default: now")
    verify.add_argument("--measurements", type=Path, metavar="ALLOWLIST.json")
    verify.add_argument("--report-data", metavar="HEX", help="the expected 64-byte report_data")
    verify.set_defaults(handler=verify_command)


def verify_command(args: argparse.Namespace) -> int:
    from outlayer.attestation import load_allowlist, verify_quote

    quote = _read_bytes(args.quote)
    collateral = _read_bytes(args.collateral).decode("utf-8", errors="replace")
    expected = None
    if args.report_data is not None:
        try:
            expected = bytes.fromhex(args.report_data)
        except ValueError:
            raise invalid_argument("--report-data must be hexadecimal") from None
        if len(expected) != 64:
            raise invalid_argument(f"--report-data must be 64 bytes (128 hex), got {len(expected)}")
    allowlist = load_allowlist(args.measurements) if args.measurements else None
    at = args.at if args.at is not None else int(time.time())
    verdict = verify_quote(
        quote, collateral, at, allowlist=allowlist, expected_report_data=expected
    )
    body = verdict.to_json()
    if allowlist is None:
        body["note"] = "no --measurements allow-list given: the measurements were not checked"
    json.dump(body, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0 if verdict.valid else 1


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise invalid_argument(f"cannot read {path}: {exc.strerror}") from None
