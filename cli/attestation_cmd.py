"""``outlayer attestation verify | fetch``: check a keystore's TDX quote before trusting it."""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

from cli.keystore_cmd import register_arguments
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
    verify.add_argument("--quote", type=Path, metavar="FILE")
    verify.add_argument("--collateral", type=Path, metavar="FILE")
    verify.add_argument("--at", type=int, metavar="UNIX_TIME", help="default: now")
    verify.add_argument("--measurements", type=Path, metavar="ALLOWLIST.json")
    verify.add_argument("--report-data", metavar="HEX", help="the expected 64-byte report_data")
    verify.add_argument(
        "--from-chain", action="store_true",
        help="ask the register contract instead: is --identity-key a registered keystore (not "
        "revoked, not expired)? With --quote, also that it is the quote registered, verified "
        "here against the collateral the contract holds",
    )  # fmt: skip
    verify.add_argument("--identity-key", metavar="HEX", help="the keystore's (--from-chain)")
    register_arguments(verify)
    verify.set_defaults(handler=verify_command)
    fetch = actions.add_parser(
        "fetch",
        help="get a live keystore's quote and collateral for a fresh nonce",
        description="Writes the quote and collateral next to each other and prints the "
        "report_data they must carry (the keystore's TLS key and identity, and your nonce), "
        "ready for `outlayer attestation verify`.",
    )
    fetch.add_argument("url", metavar="KEYSTORE_URL", help="the edge's https:// URL")
    fetch.add_argument("--out", type=Path, default=Path("."), metavar="DIR")
    fetch.add_argument("--cacert", type=Path, metavar="FILE", help="the edge's CA (development)")
    fetch.set_defaults(handler=fetch_command)


def verify_command(args: argparse.Namespace) -> int:
    from outlayer.attestation import load_allowlist, verify_quote

    if args.from_chain:
        return from_chain_command(args)
    if args.quote is None or args.collateral is None:
        raise invalid_argument("give --quote FILE and --collateral FILE (or --from-chain)")
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


def from_chain_command(args: argparse.Namespace) -> int:
    """The register contract's verdict on a keystore; exit 0 only when it is registered and
    usable (and, with --quote, the quote is the one registered and verifies here too)."""
    from outlayer.attestation import verify_quote
    from outlayer.errors import OutlayerError
    from outlayer.near.rpc import NearRpc, NearRpcError

    if not args.identity_key:
        raise invalid_argument("--from-chain needs --identity-key HEX (the keystore's)")
    rpc = NearRpc(args.rpc)
    try:
        record = rpc.view(args.register, "get_keystore", {"identity_key": args.identity_key})
    except NearRpcError as exc:
        why = f"cannot read {args.register} on {args.rpc}: {exc.message}"
        raise OutlayerError(exc.code, why) from None
    reasons: list[str] = []
    if record is None:
        reasons.append(f"no keystore with this identity key is registered in {args.register}")
    elif record.get("revoked_at") is not None:
        reasons.append(f"the keystore was revoked in {args.register}")
    elif not record.get("active"):
        reasons.append("the keystore's registration has expired (its collateral's nextUpdate)")
    if record is not None and not record.get("keys_bound", True):
        reasons.append("its quote does not bind its keys (a development registration)")
    if record is not None and args.quote is not None:
        quote = _read_bytes(args.quote)
        if hashlib.sha256(quote).hexdigest() != record["quote_sha256"]:
            reasons.append("this quote is not the one registered for the keystore")
        collateral = rpc.view(args.register, "get_collateral", {"fmspc": record["fmspc"]})
        at = args.at if args.at is not None else int(time.time())
        verdict = verify_quote(quote, json.dumps(collateral["collateral"]), at,
                               allowlist=[record["measurements"]])  # fmt: skip
        reasons += [f"off chain: {reason}" for reason in verdict.reasons]
    body = {
        "valid": not reasons,
        "register_contract": args.register,
        "identity_key": args.identity_key.lower(),
        "keystore": record,
        "reasons": reasons,
    }
    json.dump(body, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0 if not reasons else 1


def fetch_command(args: argparse.Namespace) -> int:
    import os

    from outlayer.attested import NONCE_BYTES, binding, public_key_der
    from outlayer.keystore_https import KeystoreOverHttps

    nonce = os.urandom(NONCE_BYTES)
    attestation = KeystoreOverHttps(args.url, args.cacert).attestation(nonce)
    certificate = attestation.tls_certificate_pem.encode()
    expected = binding(public_key_der(certificate), bytes.fromhex(attestation.identity)) + nonce
    args.out.mkdir(parents=True, exist_ok=True)
    quote_file = args.out / ("quote.bin" if attestation.mode == "tdx" else "development.json")
    quote_file.write_bytes(attestation.quote)
    body: dict[str, Any] = {
        "mode": attestation.mode,
        "nonce": nonce.hex(),
        "report_data": expected.hex(),
        "identity": attestation.identity,
        "quote_file": str(quote_file),
    }
    if attestation.mode == "tdx":
        collateral_file = args.out / "collateral.json"
        collateral_file.write_text(attestation.collateral_json)
        body["collateral_file"] = str(collateral_file)
        body["verify"] = (
            f"outlayer attestation verify --quote {quote_file} --collateral {collateral_file} "
            f"--report-data {expected.hex()} --measurements ALLOWLIST.json"
        )
    else:
        body["warning"] = "a development keystore: no TDX, nothing to verify; never trust it"
    json.dump(body, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0 if attestation.report_data == expected.hex() else 1


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise invalid_argument(f"cannot read {path}: {exc.strerror}") from None
