"""``outlayer vrf public-key | verify``: checking a guest's randomness, by anyone.

A guest's randomness is the keystore's VRF output for (the request, the guest's seed material)
with a proof (ECVRF-EDWARDS25519-SHA512-TAI, RFC 9381): ``verify`` checks the proof against the
keystore's VRF public key and prints the output it stands for, so a caller can see that the
operator neither made the value up nor rolled it again.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from outlayer.errors import invalid_argument


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "vrf", help="verify a guest's randomness against the keystore's VRF key"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    key = actions.add_parser("public-key", help="the keystore's VRF public key, attested")
    _keystore_arguments(key)
    key.set_defaults(handler=public_key_command)
    verify = actions.add_parser(
        "verify",
        help="check a randomness proof; prints the output it proves",
        description="Checks the proof for (the request, the seed material) against the VRF "
        "public key (given, or from an attested keystore) and prints the output. Exit 1: the "
        "proof does not hold.",
    )
    _keystore_arguments(verify)
    verify.add_argument("--public-key", metavar="HEX", help="instead of --keystore")
    origin = verify.add_mutually_exclusive_group(required=True)
    origin.add_argument(
        "--origin", metavar="KEY", help="the job's: near:CONTRACT:REQUEST_ID or https:CALL_ID"
    )
    origin.add_argument("--request-id", type=int, help="a request of --contract")
    origin.add_argument("--call-id", help="an HTTPS call's id")
    verify.add_argument("--contract", default="outlayer.localnet")
    seed = verify.add_mutually_exclusive_group(required=True)
    seed.add_argument("--seed", metavar="HEX", help="the guest's seed material, in hex")
    seed.add_argument("--seed-text", metavar="TEXT", help="the seed material as UTF-8 text")
    verify.add_argument("--proof", required=True, metavar="HEX", help="80 bytes, in hex")
    verify.add_argument("--output", metavar="HEX",
                        help="also check that the proof gives this output")  # fmt: skip
    verify.set_defaults(handler=verify_command)


def _keystore_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--keystore", metavar="URL", help="the edge's https:// URL")
    parser.add_argument("--cacert", type=Path, metavar="FILE", help="the edge's CA (development)")


def _attested_vrf_key(args: argparse.Namespace) -> bytes:
    from outlayer.config import load_settings
    from outlayer.keystore_https import KeystoreOverHttps

    if not args.keystore:
        raise invalid_argument("name the keystore (--keystore https://...) or give --public-key")
    keystore = KeystoreOverHttps(args.keystore, args.cacert)
    identity, _ = keystore.attested_identity(load_settings().attestation)
    return keystore.vrf_public_key(identity)


def public_key_command(args: argparse.Namespace) -> int:
    print(json.dumps({"suite": "ECVRF-EDWARDS25519-SHA512-TAI",
                      "public_key": _attested_vrf_key(args).hex()}))  # fmt: skip
    return 0


def verify_command(args: argparse.Namespace) -> int:
    from outlayer import vrf

    public = _hex(args.public_key, "--public-key") if args.public_key else _attested_vrf_key(args)
    if args.origin:
        origin = args.origin
    elif args.request_id is not None:
        origin = f"near:{args.contract}:{args.request_id}"
    else:
        origin = f"https:{args.call_id}"
    seed = args.seed_text.encode() if args.seed_text is not None else _hex(args.seed, "--seed")
    try:
        output = vrf.verify(public, vrf.alpha_for(origin, seed), _hex(args.proof, "--proof"))
    except vrf.InvalidProof as exc:
        print(json.dumps({"valid": False, "origin": origin, "reason": str(exc)}))
        return 1
    if args.output and _hex(args.output, "--output") != output:
        print(json.dumps({"valid": False, "origin": origin,
                          "reason": "the proof holds but gives another output"}))  # fmt: skip
        return 1
    print(json.dumps({"valid": True, "origin": origin, "output": output.hex()}))
    return 0


def _hex(text: str, what: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise invalid_argument(f"{what} must be hexadecimal") from None
