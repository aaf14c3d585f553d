"""``outlayer key create | top-up | balance | find | delete``: payment keys in the OutLayer
contract, which pay for HTTPS calls.

The secret is made here and never leaves this machine: the contract gets only its SHA-256.
A key holds one balance in one unit: a whitelisted stablecoin (topped up by the token's
``ft_transfer_call``) or ``near`` (topped up with attached NEAR).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shlex
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from cli.chain_call import (
    NEAR_TOKEN,
    Chain,
    Refused,
    Unit,
    chain_arguments,
    chain_flags,
    near_text,
    near_units,
    output,
    refused_exits_1,
    storage_argument,
    storage_text,
    timestamp_text,
    unit_of,
)
from outlayer.errors import invalid_argument

SECRET_PREFIX = "olk_"  # as the coordinator makes them: what an HTTPS caller sends
RETURNED = "OutLayer: returned "  # the contract's log line when ft_on_transfer gives it back


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "key",
        help="payment keys for HTTPS calls",
        description="A payment key is named by its owner and the nonce the contract gives it "
        "(1, 2, ...); its secret is made here and only its SHA-256 goes on chain.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="a new key; prints its secret once")
    create.add_argument("--token", required=True, metavar="TOKEN",
                        help='its unit: a whitelisted token account, or "near"')  # fmt: skip
    create.add_argument("--max-per-call", metavar="AMOUNT",
                        help="the most one call may debit (as --amount of top-up)")  # fmt: skip
    create.add_argument("--allow-project", action="append", metavar="OWNER/NAME",
                        help="only these projects (repeat; default any)")  # fmt: skip
    create.add_argument(
        "--expires-at", metavar="WHEN", help="ISO 8601 (2027-01-01T00:00:00Z) or ns since 1970"
    )
    create.add_argument(
        "--secret-file", type=Path, metavar="FILE",
        help="write the secret there (a new file, mode 0600) instead of printing it",
    )  # fmt: skip
    chain_arguments(create)
    storage_argument(create)
    create.set_defaults(handler=create_command)

    top_up = actions.add_parser(
        "top-up",
        help="add to a key's balance",
        description="AMOUNT is in the key's smallest unit (1500000), or with a decimal point "
        "in whole units (1.5 USDC, from the token's ft_metadata; 1.5 NEAR for a near key).",
    )
    _key_arguments(top_up)
    top_up.add_argument("--amount", required=True, metavar="AMOUNT")
    chain_arguments(top_up)
    top_up.set_defaults(handler=top_up_command)

    balance = actions.add_parser("balance", help="a key's balance and limits")
    _key_arguments(balance)
    chain_arguments(balance, signs=False)
    balance.set_defaults(handler=balance_command)
    find = actions.add_parser("find", help="which key a secret belongs to")
    find.add_argument("--secret-file", type=Path, required=True, metavar="FILE")
    chain_arguments(find, signs=False)
    find.set_defaults(handler=find_command)
    delete = actions.add_parser("delete", help="delete a key: its balance and storage come back")
    delete.add_argument("nonce", type=int)
    chain_arguments(delete)
    delete.set_defaults(handler=delete_command)


def _key_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("nonce", type=int, help="the key's nonce (from key create)")
    parser.add_argument("--owner", metavar="ACCOUNT", help="the key's owner (default: you)")


def new_secret() -> tuple[str, str]:
    """A payment key's secret and its SHA-256 (hex), as the contract stores it."""
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    return secret, hashlib.sha256(secret.encode()).hexdigest()


def _expiry(text: str) -> int:
    if text.isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise invalid_argument(
            f"--expires-at {text!r} is neither ISO 8601 (2027-01-01T00:00:00Z) nor nanoseconds"
        ) from None
    if moment.tzinfo is None:
        raise invalid_argument(f"--expires-at {text!r} needs a time zone (e.g. Z)")
    return int(moment.timestamp()) * 10**9 + moment.microsecond * 1000


def _reserve(path: Path) -> int:
    """A new file, private from its first byte; an existing one is never overwritten."""
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise invalid_argument(f"--secret-file {path} exists; name a new file") from None
    except OSError as exc:
        raise invalid_argument(f"cannot create --secret-file {path}: {exc.strerror}") from None


@refused_exits_1
def create_command(args: argparse.Namespace) -> int:
    chain = Chain.from_args(args)
    body: dict[str, Any] = {"token_id": args.token}
    if args.max_per_call is not None:
        unit = unit_of(chain, args.token)
        body["max_per_call"] = str(unit.parse(args.max_per_call, "--max-per-call"))
    if args.allow_project:
        body["allowed_projects"] = args.allow_project
    if args.expires_at is not None:
        body["expires_at"] = _expiry(args.expires_at)
    deposit = near_units(args.deposit_near)
    secret, key_hash = new_secret()
    body["key_hash"] = key_hash
    chain.signer  # noqa: B018 - a missing key file is reported before the secret file is made
    reserved = _reserve(args.secret_file) if args.secret_file else None
    try:
        result = chain.call("create_payment_key", body, deposit=deposit).value
    except BaseException:
        if reserved is not None:
            os.close(reserved)
            args.secret_file.unlink()
        raise
    answer = {**result, "token_id": args.token, "key_hash": key_hash}
    if reserved is not None:
        with os.fdopen(reserved, "w") as file:
            file.write(secret + "\n")
        answer["secret_file"] = str(args.secret_file)
        where = f"its secret is in {args.secret_file} (mode 0600)"
    else:
        answer["secret"] = secret
        where = f"secret: {secret}"
    output(args, answer, f"created payment key {result['owner']}/{result['nonce']} in "
                         f"{args.token} ({storage_text(result)}); {where}")  # fmt: skip
    if reserved is None:
        print("keep the secret now: it is shown only this once, and the contract holds only its "
              "SHA-256 (HTTPS calls send it as the key)", file=sys.stderr)  # fmt: skip
    if not args.json:
        print(f"top it up: outlayer key top-up {result['nonce']} --amount AMOUNT --key-file "
              f"{shlex.quote(str(args.key_file))}{chain_flags(args)}", file=sys.stderr)  # fmt: skip
    return 0


def _payment_key(chain: Chain, owner: str, nonce: int) -> dict[str, Any]:
    record: dict[str, Any] | None = chain.view("get_payment_key", {"owner": owner, "nonce": nonce})
    if record is None:
        raise Refused(f"no payment key {owner}/{nonce} in {chain.contract}")
    return record


@refused_exits_1
def top_up_command(args: argparse.Namespace) -> int:
    chain = Chain.from_args(args)
    owner = chain.account(args.owner, "--owner")
    record = _payment_key(chain, owner, args.nonce)
    unit = unit_of(chain, record["token_id"])
    value = unit.parse(args.amount, "--amount")
    name = f"{owner}/{args.nonce}"
    if record["token_id"] == NEAR_TOKEN:
        chain.call("top_up_payment_key", {"owner": owner, "nonce": args.nonce}, deposit=value)
    else:
        msg = {"action": "top_up_payment_key", "owner": owner, "nonce": args.nonce}
        outcome = chain.call(
            "ft_transfer_call",
            {"receiver_id": chain.contract, "amount": str(value), "msg": json.dumps(msg)},
            deposit=1,  # NEP-141 asks for exactly 1 yoctoNEAR
            receiver=record["token_id"],
        )
        used = int(outcome.value or 0)
        if used != value:  # the contract gave (some of) it back, and logged why
            why = next((line for line in outcome.logs if line.startswith(RETURNED)), None)
            reason = why.split(": ", 2)[-1] if why else "no reason logged"
            raise Refused(f"{unit.show(value - used)} came back to you: {reason}")
    balance = _payment_key(chain, owner, args.nonce)["balance"]
    output(args, {"owner": owner, "nonce": args.nonce, "token_id": record["token_id"],
                  "amount": str(value), "balance": balance},
           f"topped up {name} with {unit.show(value)}; balance {unit.show(balance)}")  # fmt: skip
    return 0


def _describe(record: dict[str, Any], unit: Unit) -> str:
    most = record.get("max_per_call")
    limits = [f"at most {unit.show(most)} a call" if most is not None else "no limit a call",
              "projects " + ", ".join(record["allowed_projects"])
              if record.get("allowed_projects") else "any project",
              f"expires {timestamp_text(record.get('expires_at'))}"]  # fmt: skip
    return (f"payment key {record['owner']}/{record['nonce']}: balance "
            f"{unit.show(record['balance'])}; " + "; ".join(limits))  # fmt: skip


@refused_exits_1
def balance_command(args: argparse.Namespace) -> int:
    chain = Chain.from_args(args)
    record = _payment_key(chain, chain.account(args.owner, "--owner"), args.nonce)
    output(args, record, _describe(record, unit_of(chain, record["token_id"])))
    return 0


@refused_exits_1
def find_command(args: argparse.Namespace) -> int:
    chain = Chain.from_args(args)
    try:
        secret = args.secret_file.read_text().strip()
    except OSError as exc:
        raise invalid_argument(f"cannot read {args.secret_file}: {exc.strerror}") from None
    key_hash = hashlib.sha256(secret.encode()).hexdigest()
    record = chain.view("find_payment_key", {"key_hash": key_hash})
    if record is None:
        raise Refused(f"no payment key in {chain.contract} has this secret (sha256 {key_hash})")
    output(args, record, _describe(record, unit_of(chain, record["token_id"])))
    return 0


@refused_exits_1
def delete_command(args: argparse.Namespace) -> int:
    chain = Chain.from_args(args)
    owner = chain.signer.account_id
    record = _payment_key(chain, owner, args.nonce)
    token = record["token_id"]
    parked = "0"
    if token != NEAR_TOKEN:
        parked = chain.view("get_user_balance", {"account_id": owner, "token_id": token})
    result = chain.call("delete_payment_key", {"nonce": args.nonce}).value
    unit = unit_of(chain, token)
    line = (f"deleted payment key {owner}/{args.nonce}; refunded "
            f"{unit.show(result['refunded_balance'])} and "
            f"{near_text(result['refunded_storage'])} of storage")  # fmt: skip
    if token != NEAR_TOKEN and int(result["refunded_balance"]):
        after = chain.view("get_user_balance", {"account_id": owner, "token_id": token})
        if int(after) > int(parked):  # the token refused the transfer: the contract kept it
            result["held_in_user_balance"] = True
            line += (f", but {token} refused the transfer, so the balance is in your OutLayer "
                     f"user balance: outlayer balance withdraw --token {token}")  # fmt: skip
    output(args, {"owner": owner, "nonce": args.nonce, **result}, line)
    return 0
