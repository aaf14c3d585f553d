"""``outlayer keystore serve``: the secrets service (attested in TDX, or in development mode);
``outlayer keystore register``: its TDX quote submitted to the register contract, which
verifies it on chain."""

from __future__ import annotations

import argparse
import hashlib
import os
from pathlib import Path
from typing import Any

from cli.chain_call import DEFAULT_RPC, Chain, output, refused_exits_1
from cli.services import add_service
from outlayer.errors import invalid_argument

DEFAULT_REGISTER = "register.localnet"
MAX_CALLS = 10  # a registration takes one call at 300 Tgas; with less gas, a few more


def register(commands: Any) -> None:
    actions = add_service(
        commands, "keystore", "the secrets service (the only one that can decrypt)",
        "serve over attested TLS until stopped",
    )  # fmt: skip
    submit = actions.add_parser(
        "register",
        help="submit a keystore's TDX quote to the register contract (verified on chain)",
        description="The register contract verifies the quote itself (Intel's chain, the "
        "collateral its owner set, the TCB status, the measurement allow-list, report_data "
        "binding the keystore's TLS key and identity key) and records the identity key. Give "
        "a live keystore (--keystore URL) or its quote, identity key and TLS certificate.",
    )
    submit.add_argument("--keystore", metavar="URL", help="the edge's https:// URL")
    submit.add_argument("--cacert", type=Path, metavar="FILE", help="the edge's CA (development)")
    submit.add_argument("--quote", type=Path, metavar="FILE", help="instead of --keystore")
    submit.add_argument("--identity-key", metavar="HEX", help="with --quote")
    submit.add_argument("--tls-cert", type=Path, metavar="PEM", help="with --quote")
    register_arguments(submit)
    submit.add_argument("--key-file", type=Path, required=True, metavar="FILE",
                        help="the signing account's NEAR key (near-cli JSON)")  # fmt: skip
    submit.add_argument("--json", action="store_true", help="print the result as JSON")
    submit.set_defaults(handler=register_command)


def register_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rpc", default=DEFAULT_RPC, metavar="URL",
                        help=f"a NEAR JSON-RPC node (default {DEFAULT_RPC})")  # fmt: skip
    parser.add_argument("--register", default=DEFAULT_REGISTER, metavar="ACCOUNT",
                        help=f"the register contract (default {DEFAULT_REGISTER})")  # fmt: skip


def tls_spki(certificate_pem: bytes) -> bytes:
    from outlayer.attested import public_key_der

    try:
        return public_key_der(certificate_pem)
    except ValueError as exc:
        raise invalid_argument(f"the TLS certificate is not PEM: {exc}") from None


def _evidence(args: argparse.Namespace) -> tuple[bytes, dict[str, str]]:
    if args.keystore:
        if args.quote or args.identity_key or args.tls_cert:
            raise invalid_argument("give --keystore URL, or --quote with --identity-key and "
                                   "--tls-cert, not both")  # fmt: skip
        from outlayer.keystore_https import KeystoreOverHttps

        attestation = KeystoreOverHttps(args.keystore, args.cacert).attestation(os.urandom(32))
        if attestation.mode != "tdx":
            raise invalid_argument(f"the keystore at {args.keystore} runs in {attestation.mode} "
                                   "mode: it has no TDX quote to register")  # fmt: skip
        spki = tls_spki(attestation.tls_certificate_pem.encode())
        return attestation.quote, {"identity_key": attestation.identity, "tls_spki": spki.hex()}
    if not (args.quote and args.identity_key and args.tls_cert):
        raise invalid_argument("give --keystore URL, or --quote FILE --identity-key HEX "
                               "--tls-cert PEM")  # fmt: skip
    try:
        quote = args.quote.read_bytes()
        certificate = args.tls_cert.read_bytes()
    except OSError as exc:
        raise invalid_argument(f"cannot read {exc.filename}: {exc.strerror}") from None
    try:
        identity = bytes.fromhex(args.identity_key)
    except ValueError:
        raise invalid_argument("--identity-key must be hexadecimal") from None
    if len(identity) != 32:
        raise invalid_argument("--identity-key must be 32 bytes (the Ed25519 identity key)")
    return quote, {"identity_key": identity.hex(), "tls_spki": tls_spki(certificate).hex()}


@refused_exits_1
def register_command(args: argparse.Namespace) -> int:
    quote, keys = _evidence(args)
    from outlayer.near.rpc import NearRpc

    chain = Chain(NearRpc(args.rpc), args.register, args.key_file)
    request = {"quote": quote.hex(), "keys": keys}
    steps = []
    for _ in range(MAX_CALLS):
        answer = chain.call("register_keystore", request).value
        steps.append(answer)
        if not isinstance(answer, dict) or answer.get("status") != "pending":
            break
    final = steps[-1] if steps else None
    if not isinstance(final, dict) or final.get("status") != "registered":
        raise invalid_argument(f"{args.register} did not finish the verification in "
                               f"{MAX_CALLS} calls: {final}")  # fmt: skip
    record = final["keystore"]
    body = {"register_contract": args.register, "calls": len(steps), "keystore": record,
            "quote_sha256": hashlib.sha256(quote).hexdigest()}  # fmt: skip
    bound = "" if record.get("keys_bound") else " (development: its quote does not bind the keys)"
    line = (f"registered keystore {record['identity_key']} in {args.register} after "
            f"{len(steps)} call(s), TCB {record['tcb_status']}{bound}")  # fmt: skip
    output(args, body, line)
    return 0
