"""``outlayer secrets public-key | encrypt | store``: client-side encryption of secrets.

Secrets are encrypted on the user's machine with the repository's public key, so only the
keystore can read them; ``store`` puts the blob in the contract (``store_secrets``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from outlayer.errors import invalid_argument

NEAR = 10**24


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "secrets", help="encrypt and store secrets"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    key = actions.add_parser(
        "public-key", help="a repository's public key, signed (development keystore master file)"
    )
    key.add_argument("--repo", required=True)
    key.add_argument("--branch")
    key.add_argument("--master-key-file", type=Path, required=True, metavar="FILE")
    key.set_defaults(handler=public_key_command)
    encrypt = actions.add_parser("encrypt", help="encrypt KEY=VALUE pairs; prints the base64 blob")
    encrypt.add_argument(
        "--public-key", required=True, metavar="HEX", help="from `outlayer secrets public-key`"
    )
    encrypt.add_argument("pairs", nargs="+", metavar="KEY=VALUE")
    encrypt.set_defaults(handler=encrypt_command)
    store = actions.add_parser("store", help="store an encrypted blob in the contract")
    store.add_argument("--rpc", default="http://127.0.0.1:3030", metavar="URL")
    store.add_argument("--contract", default="outlayer.localnet")
    store.add_argument("--key-file", type=Path, required=True, metavar="FILE",
                       help="the owner's NEAR key (near-cli JSON)")  # fmt: skip
    store.add_argument("--repo", required=True)
    store.add_argument("--branch")
    store.add_argument("--profile", required=True)
    store.add_argument("--blob", required=True, help="from `secrets encrypt`")
    store.add_argument("--access", default='{"AllowAll": {}}', metavar="JSON")
    store.add_argument("--deposit-near", type=float, default=0.1,
                       help="for storage; the excess is refunded")  # fmt: skip
    store.set_defaults(handler=store_command)


def public_key_command(args: argparse.Namespace) -> int:
    from services.keystore.keys import development_master, signed_public_key

    answer = signed_public_key(development_master(args.master_key_file), args.repo, args.branch)
    json.dump(answer, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def encrypt_command(args: argparse.Namespace) -> int:
    from services.keystore.keys import encrypt_secrets

    try:
        public = bytes.fromhex(args.public_key)
    except ValueError:
        raise invalid_argument("--public-key must be hexadecimal") from None
    if len(public) != 32:
        raise invalid_argument("--public-key must be 32 bytes (64 hex)")
    secrets: dict[str, str] = {}
    for pair in args.pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise invalid_argument(f"{pair!r} is not KEY=VALUE")
        secrets[name] = value
    print(encrypt_secrets(public, secrets))
    return 0


def store_command(args: argparse.Namespace) -> int:
    from outlayer.near.keys import Signer
    from outlayer.near.rpc import NearRpc

    try:
        access = json.loads(args.access)
    except ValueError:
        raise invalid_argument("--access must be JSON, e.g. '{\"AllowAll\": {}}'") from None
    body = {"repo": args.repo, "branch": args.branch, "profile": args.profile,
            "encrypted_secrets_base64": args.blob, "access": access}  # fmt: skip
    outcome = NearRpc(args.rpc).function_call(
        Signer.load(args.key_file), args.contract, "store_secrets", body,
        deposit=int(args.deposit_near * NEAR),
    )  # fmt: skip
    if outcome.failure:
        print(f"outlayer secrets store: the contract refused: {outcome.failure}", file=sys.stderr)
        return 1
    json.dump(outcome.value, sys.stdout)
    sys.stdout.write("\n")
    return 0
