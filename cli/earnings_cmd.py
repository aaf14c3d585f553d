"""``outlayer earnings show | withdraw`` (what projects earned: requests paid on chain and HTTPS
usage the operator settled) and ``outlayer balance show | withdraw`` (a user's deposited
stablecoin balance, what ``attached_usd`` is paid from)."""

from __future__ import annotations

import argparse
from typing import Any

from cli.chain_call import (
    Chain,
    Refused,
    account_argument,
    chain_arguments,
    event_data,
    output,
    refused_exits_1,
    unit_of,
)


def register(commands: Any) -> None:
    earnings: argparse.ArgumentParser = commands.add_parser(
        "earnings", help="what your projects earned, and withdrawing it"
    )
    actions = earnings.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="earnings by token")
    chain_arguments(show, signs=False)
    account_argument(show, "whose earnings")
    show.set_defaults(handler=show_earnings_command)
    withdraw = actions.add_parser("withdraw", help="pay earnings in one token out to you")
    _withdraw_arguments(withdraw)
    withdraw.set_defaults(handler=withdraw_earnings_command)

    balance: argparse.ArgumentParser = commands.add_parser(
        "balance", help="your deposited token balance (what attached_usd pays from)"
    )
    actions = balance.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="your balance in a token")
    show.add_argument("--token", required=True, metavar="TOKEN")
    chain_arguments(show, signs=False)
    account_argument(show, "whose balance")
    show.set_defaults(handler=show_balance_command)
    withdraw = actions.add_parser("withdraw", help="send your balance in a token back to you")
    _withdraw_arguments(withdraw)
    withdraw.set_defaults(handler=withdraw_balance_command)


def _withdraw_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--token", required=True, metavar="TOKEN",
                        help='a token account, or "near"')  # fmt: skip
    parser.add_argument(
        "--amount",
        metavar="AMOUNT",
        help="smallest units (1500000) or whole ones (1.5); default all",
    )
    chain_arguments(parser)


@refused_exits_1
def show_earnings_command(args: argparse.Namespace) -> int:
    chain = Chain.from_args(args)
    account = chain.account(args.account)
    earnings: dict[str, str] = chain.view("get_developer_earnings", {"account_id": account})
    if args.json:
        output(args, {"account_id": account, "earnings": earnings}, "")
        return 0
    if not earnings:
        print(f"{account} has no earnings")
    for token, amount in sorted(earnings.items()):
        print(f"{account} earned {unit_of(chain, token).show(amount)} in {token}")
    return 0


def _withdraw(args: argparse.Namespace, method: str, what: str) -> int:
    chain = Chain.from_args(args)
    unit = unit_of(chain, args.token)
    body: dict[str, Any] = {"token_id": args.token}
    if args.amount is not None:
        body["amount"] = str(unit.parse(args.amount, "--amount"))
    outcome = chain.call(method, body)
    if outcome.value is not True:
        raise Refused(f"{args.token} refused the transfer; your {what} was restored")
    # The amount paid (all, when none was given) is in the contract's event.
    paid = event_data(outcome, f"{what}_withdrawn")
    amount = str(paid["amount"]) if paid else body.get("amount")
    account = chain.signer.account_id
    shown = unit.show(amount) if amount is not None else "all"
    output(args, {"account_id": account, "token_id": args.token, "amount": amount},
           f"withdrew {shown} of {what} to {account}")  # fmt: skip
    return 0


@refused_exits_1
def withdraw_earnings_command(args: argparse.Namespace) -> int:
    return _withdraw(args, "withdraw_developer_earnings", "earnings")


@refused_exits_1
def show_balance_command(args: argparse.Namespace) -> int:
    chain = Chain.from_args(args)
    account = chain.account(args.account)
    balance = chain.view("get_user_balance", {"account_id": account, "token_id": args.token})
    output(args, {"account_id": account, "token_id": args.token, "balance": balance},
           f"{account} holds {unit_of(chain, args.token).show(balance)} in OutLayer")  # fmt: skip
    return 0


@refused_exits_1
def withdraw_balance_command(args: argparse.Namespace) -> int:
    return _withdraw(args, "withdraw_user_balance", "balance")
