"""``outlayer secrets public-key | encrypt | store``: client-side encryption of secrets.

Secrets are encrypted on the user's machine with the repository's public key, so only the
keystore can read them; ``store`` puts the blob in the contract (``store_secrets``).
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import Any

from cli.chain_call import (
    Chain,
    chain_arguments,
    near_text,
    near_units,
    output,
    refused_exits_1,
    storage_argument,
)
from outlayer.errors import OutlayerError, invalid_argument
from outlayer.repos import git_ref, github_repo


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "secrets", help="encrypt and store secrets"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    key = actions.add_parser(
        "public-key", help="a repository's public key, from an attested keystore"
    )
    _keystore_arguments(key)
    key.add_argument("--master-key-file", type=Path, metavar="FILE",
                     help="instead of --keystore: a development master file")  # fmt: skip
    key.set_defaults(handler=public_key_command)
    encrypt = actions.add_parser(
        "encrypt",
        help="encrypt KEY=VALUE pairs for a repository; prints the base64 blob",
        description="Encrypts on this machine to the repository's key, which comes from an "
        "attested keystore (--keystore) or is given (--public-key): only the keystore can "
        "decrypt. Store the blob with `outlayer secrets store`.",
    )
    _keystore_arguments(encrypt)
    encrypt.add_argument("--profile", help="prints the `secrets store` command for this profile")
    encrypt.add_argument("--public-key", metavar="HEX", help="instead of --keystore")
    encrypt.add_argument("pairs", nargs="+", metavar="KEY=VALUE")
    encrypt.set_defaults(handler=encrypt_command)
    store = actions.add_parser("store", help="store an encrypted blob in the contract")
    _repo_arguments(store)
    store.add_argument("--profile", required=True)
    store.add_argument("--blob", required=True, type=_sealed_blob, help="from `secrets encrypt`")
    store.add_argument("--keystore-key", metavar="HEX",
                       help="the identity key of the keystore the blob is encrypted to (`secrets "
                       "encrypt` prints it); needed where the contract has a register "
                       "contract")  # fmt: skip
    store.add_argument("--access", metavar="JSON",
                       help='who may use them; only you by default')  # fmt: skip
    chain_arguments(store)
    storage_argument(store)
    store.set_defaults(handler=store_command)


def _repo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repo", required=True, type=_repo, help="https://github.com/OWNER/REPO")
    parser.add_argument("--branch", type=_branch, help="secrets for this branch only")


def _keystore_arguments(parser: argparse.ArgumentParser) -> None:
    _repo_arguments(parser)
    parser.add_argument("--keystore", metavar="URL", help="the edge's https:// URL")
    parser.add_argument("--cacert", type=Path, metavar="FILE", help="the edge's CA (development)")


def _repo(text: str) -> str:
    """A repository the contract keeps secrets for, as given (the contract normalises it)."""
    try:
        github_repo(text)
    except OutlayerError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None
    return text


def _branch(text: str) -> str:
    if not text:
        return ""  # as if --branch were not given
    try:
        return git_ref(text)
    except OutlayerError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


# What `secrets encrypt` makes is a sealed box (a 32-byte key and a 16-byte tag around the JSON
# of at least one variable): anything shorter, or not base64, was never made by it.
SEALED_BOX_OVERHEAD = 48


def _sealed_blob(text: str) -> str:
    try:
        sealed = base64.b64decode(text, validate=True)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "not base64: give the blob `outlayer secrets encrypt` printed, unchanged"
        ) from None
    if len(sealed) <= SEALED_BOX_OVERHEAD + len("{}"):
        raise argparse.ArgumentTypeError(
            f"{len(sealed)} bytes is too short for encrypted secrets: give the blob `outlayer "
            "secrets encrypt` printed, unchanged"
        )
    return text


def _attested_key(args: argparse.Namespace) -> tuple[bytes, dict[str, Any]]:
    """The repository's public key from the attested keystore, and what was checked."""
    from outlayer.config import load_settings
    from outlayer.keystore_https import KeystoreOverHttps

    keystore = KeystoreOverHttps(args.keystore, args.cacert)
    identity, verdict = keystore.attested_identity(load_settings().attestation)
    public = keystore.public_key(args.repo, args.branch, identity)
    checked = {"identity": identity.hex(), "attestation": "tdx" if verdict else "development"}
    return public, checked


def public_key_command(args: argparse.Namespace) -> int:
    from services.keystore.keys import development_master, signed_public_key

    if args.keystore:
        public, checked = _attested_key(args)
        answer: dict[str, Any] = {"repo": args.repo, "branch": args.branch or "",
                                  "public_key": public.hex(), **checked}  # fmt: skip
    elif args.master_key_file:
        master = development_master(args.master_key_file)
        answer = signed_public_key(master, args.repo, args.branch)
    else:
        raise invalid_argument("give --keystore URL (or, in development, --master-key-file)")
    json.dump(answer, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def encrypt_command(args: argparse.Namespace) -> int:
    from services.keystore.keys import encrypt_secrets

    identity = ""
    if args.keystore:
        public, checked = _attested_key(args)
        identity = checked["identity"]
    elif args.public_key:
        try:
            public = bytes.fromhex(args.public_key)
        except ValueError:
            raise invalid_argument("--public-key must be hexadecimal") from None
    else:
        raise invalid_argument("give --keystore URL (or --public-key HEX)")
    if len(public) != 32:
        raise invalid_argument("--public-key must be 32 bytes (64 hex)")
    secrets: dict[str, str] = {}
    for pair in args.pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name:
            raise invalid_argument(f"{pair!r} is not KEY=VALUE")
        secrets[name] = value
    blob = encrypt_secrets(public, secrets)
    print(blob)
    if args.profile:
        branch = f" --branch {args.branch}" if args.branch else ""
        # Where a register contract is set, the contract takes the secrets only for the
        # registered keystore they were encrypted to: name it.
        keystore = f" --keystore-key {identity}" if identity else ""
        command = (
            f"outlayer secrets store --repo {args.repo}{branch} --profile {args.profile} "
            f"--key-file YOUR_KEY.json{keystore} --blob {blob}"
        )
        print(f"store it with: {command}", file=sys.stderr)
    return 0


@refused_exits_1
def store_command(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"repo": args.repo, "branch": args.branch, "profile": args.profile,
                            "encrypted_secrets_base64": args.blob}  # fmt: skip
    if args.keystore_key:
        body["keystore_key"] = args.keystore_key
    if args.access is not None:  # without it the contract lets only the owner use them
        try:
            body["access"] = json.loads(args.access)
        except ValueError:
            raise invalid_argument("--access must be JSON, e.g. '{\"AllowAll\": {}}'") from None
    chain = Chain.from_args(args)
    result = chain.call("store_secrets", body, deposit=near_units(args.deposit_near)).value
    output(args, result, f"stored secrets {args.profile} for {args.repo}: they hold "
                         f"{near_text(result['storage_deposit'])} of storage; "
                         f"{near_text(result['charged'])} charged now, "
                         f"{near_text(result['refunded'])} refunded")  # fmt: skip
    return 0
