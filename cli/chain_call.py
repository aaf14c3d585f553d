"""What the commands that talk to the OutLayer contract share: their arguments (``--rpc``,
``--contract``, ``--key-file``, ``--json``), signed calls whose refusals read as one line,
amounts in NEAR or a token's units, and the output (JSON, or one readable line).

A contract refusal (a panic, a token given back) exits 1; a bad argument exits 2 (as every
:class:`~outlayer.errors.OutlayerError` does in ``cli.main``).
"""

from __future__ import annotations

import argparse
import functools
import json
import re
import shlex
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from outlayer.errors import ErrorCode, OutlayerError, invalid_argument
from outlayer.near.keys import Signer, public_key_text
from outlayer.near.rpc import PANIC, TGAS, NearRpc, NearRpcError, TxOutcome

DEFAULT_RPC = "http://127.0.0.1:3030"
DEFAULT_CONTRACT = "outlayer.localnet"
NEAR_TOKEN = "near"  # the contract's name for balances and keys held in yoctoNEAR
NEAR_DECIMALS = 24
NEAR = 10**NEAR_DECIMALS
DEFAULT_STORAGE_DEPOSIT = "0.1"  # NEAR; the contract keeps what the storage takes
EXIT_REFUSED = 1
_TOO_LITTLE = re.compile(r"attach at least (\d+) yoctoNEAR")


class Refused(Exception):
    """The chain said no (or holds nothing by that name): exit code 1, the message as is."""


def chain_arguments(parser: argparse.ArgumentParser, *, signs: bool = True) -> None:
    """``--rpc``, ``--contract``, ``--key-file`` (required when the command signs) and
    ``--json``."""
    parser.add_argument("--rpc", default=DEFAULT_RPC, metavar="URL",
                        help=f"a NEAR JSON-RPC node (default {DEFAULT_RPC})")  # fmt: skip
    parser.add_argument("--contract", default=DEFAULT_CONTRACT, metavar="ACCOUNT",
                        help=f"the OutLayer contract (default {DEFAULT_CONTRACT})")  # fmt: skip
    parser.add_argument(
        "--key-file", type=Path, required=signs, metavar="FILE",
        help="the account's NEAR key (near-cli JSON, e.g. ~/.near-credentials/...)"
        + ("" if signs else "; or name the account with --account"),
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def chain_flags(args: argparse.Namespace) -> str:
    """``--rpc`` and ``--contract`` as given, when not the defaults: for a printed next step
    that works as printed."""
    flags = ""
    if args.rpc != DEFAULT_RPC:
        flags += f" --rpc {shlex.quote(args.rpc)}"
    if args.contract != DEFAULT_CONTRACT:
        flags += f" --contract {shlex.quote(args.contract)}"
    return flags


def account_argument(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--account", metavar="ACCOUNT",
                        help=f"{what} (default: the --key-file's account)")  # fmt: skip


def storage_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--deposit-near", default=DEFAULT_STORAGE_DEPOSIT, metavar="NEAR",
        help=f"attached for storage (default {DEFAULT_STORAGE_DEPOSIT}); what the storage does "
        "not take comes back at once",
    )  # fmt: skip


def refused_exits_1(handler: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    """Wraps a command: a :class:`Refused` prints ``outlayer <command> <action>: <why>`` on
    stderr and exits 1."""

    @functools.wraps(handler)
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except Refused as exc:
            name = " ".join(getattr(args, key) for key in ("command", "action", "step")
                            if getattr(args, key, None))  # fmt: skip
            print(f"outlayer {name}: {exc}", file=sys.stderr)
            return EXIT_REFUSED

    return run


@dataclass
class Chain:
    """One command's connection: the node, the contract and (when it signs) the signer."""

    rpc: NearRpc
    contract: str
    key_file: Path | None
    _signer: Signer | None = field(default=None, init=False)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Chain:
        return cls(NearRpc(args.rpc), args.contract, args.key_file)

    @property
    def signer(self) -> Signer:
        if self._signer is None:
            if self.key_file is None:
                raise invalid_argument("give --key-file FILE (the account's near-cli key JSON)")
            if not self.key_file.is_file():
                raise invalid_argument(
                    f"no key file at {self.key_file}: give the account's near-cli key JSON "
                    "(near-cli keeps them in ~/.near-credentials/<network>/<account>.json)"
                )
            self._signer = Signer.load(self.key_file)
        return self._signer

    def account(self, explicit: str | None = None, option: str = "--account") -> str:
        """``explicit`` (given as ``option``: --account, or --owner), else the key file's
        account."""
        if explicit:
            return explicit
        if self.key_file is None:
            raise invalid_argument(f"give {option} ACCOUNT or --key-file FILE")
        return self.signer.account_id

    def view(self, method: str, args: Any = None, *, receiver: str | None = None) -> Any:
        try:
            return self.rpc.view(receiver or self.contract, method, args)
        except NearRpcError as exc:
            raise self._rpc_error(exc, receiver or self.contract) from None

    def call(
        self,
        method: str,
        args: Any = None,
        *,
        deposit: int = 0,
        receiver: str | None = None,
        gas: int = 300 * TGAS,
    ) -> TxOutcome:
        """Signs and sends a function call, waits until it is final; a refusal raises
        :class:`Refused` with the contract's own words."""
        signer = self.signer
        receiver_id = receiver or self.contract
        try:
            outcome = self.rpc.function_call(
                signer, receiver_id, method, args, deposit=deposit, gas=gas
            )
        except NearRpcError as exc:
            if exc.cause == "INVALID_TRANSACTION":  # signed, and the chain would not take it
                raise Refused(f"the chain refused {method} on {receiver_id}: {exc.message}"
                              + _balance_hint(exc.message)) from None  # fmt: skip
            raise self._rpc_error(exc, receiver_id, signing=True) from None
        why = outcome.refusal
        if why is not None:
            short = _TOO_LITTLE.search(why)
            if short:  # say it in the unit --deposit-near takes
                why += f" ({near_text(short.group(1))}: raise --deposit-near)"
            raise Refused(f"{receiver_id} refused {method}: {why}")
        return outcome

    def _rpc_error(
        self, exc: NearRpcError, receiver_id: str, *, signing: bool = False
    ) -> OutlayerError:
        where = f"on {self.rpc.url}"
        if exc.cause == "UNKNOWN_ACCESS_KEY" and self._signer is not None:
            key = public_key_text(self._signer.public_key)
            return invalid_argument(f"{key} (from {self.key_file}) is not an access key of "
                                    f"{self._signer.account_id} {where}")  # fmt: skip
        if exc.cause == "UNKNOWN_ACCOUNT":
            if signing and self._signer is not None:  # sending reads the signer's key first
                return invalid_argument(f"account {self._signer.account_id} (from "
                                        f"{self.key_file}) does not exist {where}")  # fmt: skip
            return OutlayerError(ErrorCode.NOT_FOUND, f"{receiver_id} does not exist {where} "
                                 "(is --contract right?)")  # fmt: skip
        if exc.cause == "CONTRACT_EXECUTION_ERROR":  # a view that panicked
            return invalid_argument(f"{receiver_id}: {PANIC.sub('', exc.message)}")
        return exc


def event_data(outcome: TxOutcome, name: str) -> dict[str, Any] | None:
    """The data of the contract's first NEP-297 event ``name`` in a transaction, or None."""
    for line in outcome.logs:
        if line.startswith("EVENT_JSON:"):
            try:
                body = json.loads(line[len("EVENT_JSON:") :])
            except ValueError:
                continue
            if isinstance(body, dict) and body.get("event") == name and body.get("data"):
                data: dict[str, Any] = body["data"][0]
                return data
    return None


# --- amounts ------------------------------------------------------------------------------------
def _balance_hint(message: str) -> str:
    if "NotEnoughBalance" in message:
        return " (the account holds less than the deposit and gas: lower --deposit-near)"
    return ""


def parse_units(text: str, decimals: int | None, what: str) -> int:
    """An amount in the smallest unit (``1500000``), or in whole units with a decimal point
    (``1.5``, which needs ``decimals``). Positive."""
    text = text.strip().replace("_", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise invalid_argument(f"{what} {text!r} is not a number (e.g. 1500000, or 1.5)") from None
    if not value.is_finite() or value <= 0:
        raise invalid_argument(f"{what} must be positive, got {text!r}")
    _within_u128(value, decimals or 0, text, what)
    if "." not in text and "e" not in text.lower():
        return _u128(int(value), text, what)
    if decimals is None:
        raise invalid_argument(
            f"{what} {text!r} has a decimal point, but the token's decimals are unknown (it has "
            "no ft_metadata): give it in the token's smallest unit, a whole number"
        )
    scaled = value.scaleb(decimals)
    if scaled != scaled.to_integral_value():
        raise invalid_argument(f"{what} {text!r} has more than {decimals} decimal places")
    return _u128(int(scaled), text, what)


def near_units(text: str, what: str = "--deposit-near") -> int:
    """NEAR (``0.1``) in yoctoNEAR."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise invalid_argument(f"{what} {text!r} is not a number of NEAR (e.g. 0.1)") from None
    if not value.is_finite() or value < 0:
        raise invalid_argument(f"{what} must be zero or more NEAR, got {text!r}")
    _within_u128(value, NEAR_DECIMALS, text, what)
    scaled = value.scaleb(NEAR_DECIMALS)
    if scaled != scaled.to_integral_value():
        raise invalid_argument(f"{what} {text!r} is finer than a yoctoNEAR")
    return _u128(int(scaled), text, what)


U128_MAX = 2**128 - 1  # NEAR's amounts (balances, deposits, tokens) are u128


def _within_u128(value: Decimal, decimals: int, text: str, what: str) -> None:
    """Refuses, before it is scaled or made an int, a number with more digits than any u128
    (1e999999 would overflow the scaling or take seconds to build)."""
    if value and value.adjusted() + decimals > len(str(U128_MAX)):
        raise _over_u128(text, what)


def _u128(amount: int, text: str, what: str) -> int:
    if amount > U128_MAX:
        raise _over_u128(text, what)
    return amount


def _over_u128(text: str, what: str) -> OutlayerError:
    return invalid_argument(f"{what} {text!r} is more than any NEAR amount can be (2^128 - 1 of "
                            "the smallest unit)")  # fmt: skip


@dataclass(frozen=True)
class Unit:
    """How a token's amounts read: its decimals (None: unknown) and symbol."""

    token_id: str
    decimals: int | None
    symbol: str

    def parse(self, text: str, what: str) -> int:
        return parse_units(text, self.decimals, what)

    def show(self, value: int | str) -> str:
        value = int(value)
        if self.decimals is None:
            return f"{value} (smallest units of {self.token_id})"
        whole = _decimal_text(value, self.decimals)
        if self.token_id == NEAR_TOKEN:
            return f"{whole} NEAR"
        return f"{whole} {self.symbol} ({value})"


def unit_of(chain: Chain, token_id: str) -> Unit:
    """The unit of ``token_id`` ("near", or a NEP-141 token's ``ft_metadata``)."""
    if token_id == NEAR_TOKEN:
        return Unit(NEAR_TOKEN, NEAR_DECIMALS, "NEAR")
    try:
        metadata = chain.rpc.view(token_id, "ft_metadata")
    except NearRpcError as exc:
        if exc.cause == "UNKNOWN_ACCOUNT":
            raise invalid_argument(f"token {token_id} does not exist on {chain.rpc.url}") from None
        return Unit(token_id, None, token_id)  # no ft_metadata: amounts stay in smallest units
    decimals = metadata.get("decimals") if isinstance(metadata, dict) else None
    symbol = metadata.get("symbol") if isinstance(metadata, dict) else None
    return Unit(token_id, decimals if isinstance(decimals, int) else None,
                symbol if isinstance(symbol, str) and symbol else token_id)  # fmt: skip


def near_text(yocto: int | str) -> str:
    return f"{_decimal_text(int(yocto), NEAR_DECIMALS)} NEAR"


def _decimal_text(value: int, decimals: int) -> str:
    whole, fraction = divmod(value, 10**decimals)
    digits = str(fraction).rjust(decimals, "0").rstrip("0") if decimals else ""
    return f"{whole}.{digits}" if digits else str(whole)


def timestamp_text(nanoseconds: int | None) -> str:
    if nanoseconds is None:
        return "never"
    moment = datetime.fromtimestamp(nanoseconds / 1e9, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


def storage_text(result: dict[str, Any]) -> str:
    """``storage N NEAR, M NEAR refunded`` from a result's storage_deposit and refunded."""
    return (
        f"storage {near_text(result['storage_deposit'])}, "
        f"{near_text(result['refunded'])} of the deposit refunded"
    )


# --- output -------------------------------------------------------------------------------------
def output(args: argparse.Namespace, data: Any, line: str) -> None:
    """``data`` as JSON with --json, else the readable ``line``."""
    if args.json:
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(line)
