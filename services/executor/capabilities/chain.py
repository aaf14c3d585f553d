"""Guests' NEAR reads: a contract's view method, an account, the final block.

Through the platform's own RPC endpoint (``executor.guest.chain_rpc``; localnet in development),
always at ``final`` finality, so every executor answers a run alike. Read-only: nothing here
signs, and a guest has no key to sign with.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from outlayer.errors import ErrorCode, OutlayerError, invalid_argument
from outlayer.near.account_id import is_account_id
from outlayer.near.rpc import NearRpc, NearRpcError

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

    def final_block(self, timeout: float) -> bytes:
        header = self._rpc.call("block", {"finality": "final"}, timeout=timeout)["header"]
        fields = ("height", "hash", "prev_hash", "timestamp", "timestamp_nanosec", "epoch_id")
        shown = {name: header[name] for name in fields if name in header}
        return json.dumps(shown, sort_keys=True).encode()

    def _query(self, params: dict[str, str], timeout: float, account: str) -> dict[str, Any]:
        try:
            result: dict[str, Any] = self._rpc.call("query", params, timeout=timeout)
        except NearRpcError as exc:
            if exc.cause == "UNKNOWN_ACCOUNT":
                raise OutlayerError(ErrorCode.NOT_FOUND, f"no account {account} on chain") from None
            if exc.cause == "CONTRACT_EXECUTION_ERROR":
                raise OutlayerError(ErrorCode.INTERNAL, exc.message) from None
            if exc.cause == "NO_CONTRACT_CODE":
                raise OutlayerError(ErrorCode.NOT_FOUND, f"{account} has no contract") from None
            raise OutlayerError(exc.code, exc.message) from None
        return result


def _check_account(account: str) -> None:
    if not is_account_id(account):
        raise invalid_argument(f"{account[:80]!r} is not a NEAR account id")
