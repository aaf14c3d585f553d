"""Guests' NEAR reads: a contract's view method, an account, the final block.

Through the platform's own RPC endpoint (``executor.guest.chain_rpc``; localnet in development),
always at ``final`` finality, so every executor answers a run alike. Read-only: nothing here
signs, and a guest has no key to sign with.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from typing import Any

from outlayer.errors import ErrorCode, OutlayerError, invalid_argument
from outlayer.near.account_id import is_account_id
from outlayer.near.rpc import NearRpc, NearRpcError
from services.executor._guest_abi import SIGNING_REFUSED

_METHOD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,255}")


class ChainReader:
    def __init__(self, rpc: NearRpc) -> None:
        self._rpc = rpc

    def view(self, contract: str, method: str, args: bytes, timeout: float) -> bytes:
        """The view's return value, as the contract returned it (bytes)."""
        _check_account(contract)
        if not _METHOD.fullmatch(method):
            raise invalid_argument(f"{method[:80]!r} is not a contract method name")
        params = {
            "request_type": "call_function",
            "finality": "final",
            "account_id": contract,
            "method_name": method,
            "args_base64": base64.b64encode(args).decode(),
        }
        result = self._query(params, timeout, contract)
        if "error" in result:
            raise OutlayerError(
                ErrorCode.INTERNAL, f"{contract}.{method} failed: {result['error']}"
            )
        return bytes(result["result"])

    def view_account(self, account: str, timeout: float) -> bytes:
        _check_account(account)
        params = {"request_type": "view_account", "finality": "final", "account_id": account}
        result = self._query(params, timeout, account)
        return json.dumps({"account_id": account, **result}, sort_keys=True).encode()

    def api_read(self, function: str, args: dict[str, str], timeout: float) -> bytes:
        """A read-only function of near:rpc/api (components): :func:`near_api_read`."""
        return near_api_read(self._rpc, function, args, timeout)

    def final_block(self, timeout: float) -> bytes:
        header = self._rpc.call("block", {"finality": "final"}, timeout=timeout)["header"]
        fields = ("height", "hash", "prev_hash", "timestamp", "timestamp_nanosec", "epoch_id")
        shown = {name: header[name] for name in fields if name in header}
        return json.dumps(shown, sort_keys=True).encode()

    def _query(self, params: dict[str, str], timeout: float, account: str) -> dict[str, Any]:
        result: dict[str, Any] = _call(self._rpc, "query", params, timeout, account)
        return result


def _call(rpc: NearRpc, method: str, params: Any, timeout: float, account: str = "") -> Any:
    """One RPC call, the node's errors in the guest's terms (the same for modules and
    components): no account or no contract is NOT_FOUND, a failed view FAILED."""
    try:
        return rpc.call(method, params, timeout=timeout)
    except NearRpcError as exc:
        if exc.cause == "UNKNOWN_ACCOUNT" and account:
            raise OutlayerError(ErrorCode.NOT_FOUND, f"no account {account} on chain") from None
        if exc.cause == "NO_CONTRACT_CODE" and account:
            raise OutlayerError(ErrorCode.NOT_FOUND, f"{account} has no contract") from None
        if exc.cause == "CONTRACT_EXECUTION_ERROR" or not account:
            raise OutlayerError(ErrorCode.INTERNAL, exc.message) from None
        raise OutlayerError(exc.code, exc.message) from None


def _check_account(account: str) -> None:
    if not is_account_id(account):
        raise invalid_argument(f"{account[:80]!r} is not a NEAR account id")


# --- near:rpc/api reads (components, issue #15) ------------------------------------------------
_WAIT_UNTIL = frozenset({"NONE", "INCLUDED", "EXECUTED_OPTIMISTIC", "INCLUDED_FINAL", "EXECUTED",
                         "FINAL"})  # fmt: skip
# What near:rpc/api raw may call: read-only methods (every signing one is refused).
RAW_READS = frozenset({
    "query", "block", "chunk", "EXPERIMENTAL_changes", "EXPERIMENTAL_changes_in_block",
    "gas_price", "status", "validators", "tx", "EXPERIMENTAL_tx_status", "EXPERIMENTAL_receipt",
    "EXPERIMENTAL_protocol_config", "EXPERIMENTAL_genesis_config",
})  # fmt: skip
_SIGNING = frozenset({"send_tx", "broadcast_tx_async", "broadcast_tx_commit"})


def _at(finality_or_block: str) -> dict[str, Any]:
    """``""``/``final``, a block height or a block hash: what every executor answers alike
    (optimistic reads are not: they are refused)."""
    given = finality_or_block.strip()
    if given in ("", "final"):
        return {"finality": "final"}
    if given.isdigit():
        return {"block_id": int(given)}
    if given == "optimistic" or not re.fullmatch(r"[1-9A-HJ-NP-Za-km-z]{32,44}", given):
        raise invalid_argument(
            f"{given[:60]!r}: reads are at final finality, a block height or a block hash "
            "(optimistic reads are not served: every executor must answer a run alike)"
        )
    return {"block_id": given}


def _params(request_type: str, account: str, finality_or_block: str, **extra: str) -> Any:
    _check_account(account)
    return ("query", {"request_type": request_type, "account_id": account,
                      **_at(finality_or_block), **extra})  # fmt: skip


def _view(a: dict[str, str]) -> tuple[str, Any]:
    if not _METHOD.fullmatch(a["method-name"]):
        raise invalid_argument(f"{a['method-name'][:80]!r} is not a contract method name")
    args = base64.b64encode(a["args-json"].encode()).decode()
    return _params("call_function", a["contract-id"], a["finality-or-block"],  # type: ignore[no-any-return]
                  method_name=a["method-name"], args_base64=args)  # fmt: skip


def _chunk(a: dict[str, str]) -> tuple[str, Any]:
    given = a["chunk-id-or-block-shard"].strip()
    if "," in given:
        block, shard = (part.strip() for part in given.split(",", 1))
        if not shard.isdigit():
            raise invalid_argument(f"{shard[:20]!r} is not a shard id")
        return "chunk", {"block_id": int(block) if block.isdigit() else block,
                         "shard_id": int(shard)}  # fmt: skip
    return "chunk", {"chunk_id": given}


def _tx_status(a: dict[str, str]) -> tuple[str, Any]:
    _check_account(a["sender-account-id"])
    wait = a["wait-until"] or "EXECUTED_OPTIMISTIC"
    if wait not in _WAIT_UNTIL:
        raise invalid_argument(f"wait-until {wait[:30]!r} is not one of {sorted(_WAIT_UNTIL)}")
    return "tx", {"tx_hash": a["tx-hash"], "sender_account_id": a["sender-account-id"],
                  "wait_until": wait}  # fmt: skip


def _raw(a: dict[str, str]) -> tuple[str, Any]:
    method = a["method"]
    if method in _SIGNING:
        raise OutlayerError(ErrorCode.PERMISSION_DENIED, SIGNING_REFUSED)
    if method not in RAW_READS:
        raise OutlayerError(ErrorCode.PERMISSION_DENIED,
                            f"raw {method[:60]!r} is not served; read-only methods are "
                            f"{', '.join(sorted(RAW_READS))}")  # fmt: skip
    try:
        params = json.loads(a["params-json"] or "null")
    except ValueError:
        raise invalid_argument("params-json is not JSON") from None
    if isinstance(params, dict) and params.get("finality") not in (None, "final"):
        _at(str(params["finality"]))  # refuses optimistic with its reason
    return method, params


_READS: dict[str, Callable[[dict[str, str]], tuple[str, Any]]] = {
    "view": _view,
    "view-account": lambda a: _params("view_account", a["account-id"], a["finality-or-block"]),
    "view-access-key": lambda a: _params("view_access_key", a["account-id"],
                                        a["finality-or-block"], public_key=a["public-key"]),
    "view-access-key-list": lambda a: _params("view_access_key_list", a["account-id"],
                                             a["finality-or-block"]),
    "view-code": lambda a: _params("view_code", a["account-id"], a["finality-or-block"]),
    "view-state": lambda a: _params("view_state", a["account-id"], a["finality-or-block"],
                                   prefix_base64=a["prefix-base64"]),
    "block": lambda a: ("block", _at(a["finality-or-block"])),
    "chunk": _chunk,
    "changes": lambda a: ("EXPERIMENTAL_changes_in_block", _at(a["finality-or-block"])),
    "tx-status": _tx_status,
    "receipt": lambda a: ("EXPERIMENTAL_receipt", {"receipt_id": a["receipt-id"]}),
    "gas-price": lambda a: ("gas_price", [_block_id(a["block-id"])]),
    "status": lambda a: ("status", []),
    "validators": lambda a: ("validators", [a["epoch-id"] or None] if not a["epoch-id"]
                             else {"epoch_id": a["epoch-id"]}),
    "raw": _raw,
}  # fmt: skip


def _block_id(given: str) -> int | str | None:
    return None if not given else int(given) if given.isdigit() else given


def near_api_read(rpc: NearRpc, function: str, args: dict[str, str], timeout: float) -> bytes:
    """One read-only function of ``near:rpc/api`` (by its WIT name): the JSON of the RPC's
    result (``view``: the value the contract returned, as text)."""
    build = _READS.get(function)
    if function == "network-info":
        raise OutlayerError(
            ErrorCode.PERMISSION_DENIED,
            "near:rpc/api network-info is not served: it describes an RPC node, not the chain",
        )
    if build is None:
        raise OutlayerError(ErrorCode.PERMISSION_DENIED, f"near:rpc/api {function} is not served")
    try:
        method, params = build(args)
    except KeyError as exc:
        raise invalid_argument(f"near:rpc/api {function} lacks its argument {exc}") from None
    account = args.get("contract-id") or args.get("account-id") or ""
    result = _call(rpc, method, params, timeout, account)
    if function == "view":
        if "error" in result:
            raise OutlayerError(ErrorCode.INTERNAL, f"the view failed: {result['error']}")
        return bytes(result["result"])
    return json.dumps(result).encode()
