"""A NEAR JSON-RPC client: views, signed transactions, blocks and transaction status.

It speaks nearcore's RPC as documented, so it talks to localnet and to any NEAR node alike.
Transactions from one signer go through a lock, so their nonces never collide.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import base58
import httpx

from outlayer.errors import ErrorCode, OutlayerError
from outlayer.near.actions import Action, FunctionCallAction
from outlayer.near.borsh import SignedTransaction, Transaction
from outlayer.near.keys import Signer, public_key_text

TGAS = 10**12


class NearRpcError(OutlayerError):
    """An error answer from the node: ``name`` and ``cause`` are nearcore's."""

    def __init__(self, name: str, cause: str, message: str) -> None:
        super().__init__(
            ErrorCode.UNAVAILABLE if cause == "TIMEOUT_ERROR" else ErrorCode.INVALID_ARGUMENT,
            message,
        )
        self.name = name
        self.cause = cause


@dataclass(frozen=True)
class TxOutcome:
    """A transaction's status as the node reports it."""

    tx_hash: str
    raw: dict[str, Any]

    @property
    def final(self) -> bool:
        return self.raw.get("final_execution_status") in (
            "FINAL",
            "EXECUTED",
            "EXECUTED_OPTIMISTIC",
        ) and (isinstance(self.raw.get("status"), dict))

    @property
    def failure(self) -> str | None:
        status = self.raw.get("status")
        if isinstance(status, dict) and "Failure" in status:
            return json.dumps(status["Failure"])
        return None

    @property
    def refusal(self) -> str | None:
        """The failure as one readable line (the contract's own words for a panic), if any."""
        status = self.raw.get("status")
        if isinstance(status, dict) and "Failure" in status:
            return failure_text(status["Failure"])
        return None

    @property
    def value(self) -> Any:
        status = self.raw.get("status")
        if not isinstance(status, dict) or "SuccessValue" not in status:
            return None
        data = base64.b64decode(status["SuccessValue"])
        return json.loads(data) if data else None

    @property
    def logs(self) -> list[str]:
        return [log for r in self.raw.get("receipts_outcome", []) for log in r["outcome"]["logs"]]


# nearcore writes "Smart contract panicked: <message>" (localnet adds "FunctionCallError: ").
PANIC = re.compile(r"^(?:FunctionCallError: )?Smart contract panicked: ")


def failure_text(failure: Any) -> str:
    """A transaction's ``Failure`` as one readable line: the contract's panic message as it
    wrote it, or the name of NEAR's error and its fields."""
    message = _find(failure, "ExecutionError")
    if isinstance(message, str):
        return PANIC.sub("", message).strip()
    kind = failure.get("ActionError", {}).get("kind") if isinstance(failure, dict) else None
    error = kind if isinstance(kind, dict) else failure
    while isinstance(error, dict) and len(error) == 1:
        (name, details), = error.items()  # fmt: skip
        if not isinstance(details, dict) or len(details) != 1:
            fields = json.dumps(details) if details else ""
            return f"{name} {fields}".strip()
        error = details
    return json.dumps(failure)


def _find(value: Any, key: str) -> Any:
    if isinstance(value, dict):
        if key in value:
            return value[key]
        for inner in value.values():
            found = _find(inner, key)
            if found is not None:
                return found
    return None


def is_tx_hash(text: str) -> bool:
    """A NEAR transaction hash as NEAR writes it: 32 bytes in base58."""
    try:
        return len(text) <= 44 and len(base58.b58decode(text)) == 32
    except ValueError:
        return False


class NearRpc:
    def __init__(self, url: str, timeout_s: float = 30.0) -> None:
        self.url = url
        self._http = httpx.Client(timeout=timeout_s)
        self._request_id = 0
        self._signer_locks: dict[tuple[str, bytes], threading.Lock] = {}
        self._nonces: dict[tuple[str, bytes], int] = {}
        self._guard = threading.Lock()

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, params: Any, timeout: float | None = None) -> Any:
        """``timeout``: this call's, in seconds (default: the client's)."""
        self._request_id += 1
        body = {"jsonrpc": "2.0", "id": self._request_id, "method": method, "params": params}
        try:
            if timeout is None:
                response = self._http.post(self.url, json=body)
            else:
                response = self._http.post(self.url, json=body, timeout=timeout)
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise OutlayerError(
                ErrorCode.UNAVAILABLE,
                f"NEAR RPC at {self.url} did not answer ({exc}); is it running?",
            ) from None
        error = answer.get("error")
        if error is not None:
            cause = (error.get("cause") or {}).get("name", "")
            message = error.get("data") or error.get("message") or "RPC error"
            raise NearRpcError(
                error.get("name", ""), cause, f"{cause or error.get('name')}: {message}"
            )
        return answer["result"]

    # --- views ----------------------------------------------------------------------------------
    def view(self, account_id: str, method: str, args: Any = None) -> Any:
        result = self.call(
            "query",
            {
                "request_type": "call_function",
                "finality": "final",
                "account_id": account_id,
                "method_name": method,
                "args_base64": base64.b64encode(json.dumps(args or {}).encode()).decode(),
            },
        )
        if "error" in result:
            raise NearRpcError("HANDLER_ERROR", "CONTRACT_EXECUTION_ERROR", result["error"])
        data = bytes(result["result"])
        return json.loads(data) if data else None

    def view_account(self, account_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call(
            "query", {"request_type": "view_account", "finality": "final", "account_id": account_id}
        )
        return result

    def block(self, height: int | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"finality": "final"} if height is None else {"block_id": height}
        result: dict[str, Any] = self.call("block", params)
        return result

    def chunk(self, chunk_hash: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("chunk", {"chunk_id": chunk_hash})
        return result

    def tx_status(self, tx_hash: str, sender_id: str, wait_until: str = "NONE") -> TxOutcome:
        raw = self.call(
            "EXPERIMENTAL_tx_status",
            {"tx_hash": tx_hash, "sender_account_id": sender_id, "wait_until": wait_until},
        )
        return TxOutcome(tx_hash, raw)

    # --- transactions ---------------------------------------------------------------------------
    def send(
        self,
        signer: Signer,
        receiver_id: str,
        actions: Sequence[Action],
        wait_until: str = "FINAL",
        *,
        before_sending: Callable[[str], None] | None = None,
    ) -> TxOutcome:
        """``before_sending``: called with the signed transaction's hash (base58) before it
        is sent; if it raises, nothing is sent."""
        slot = (signer.account_id, signer.public_key)
        with self._guard:
            lock = self._signer_locks.setdefault(slot, threading.Lock())
        with lock:
            if slot not in self._nonces:
                key = self.call(
                    "query",
                    {
                        "request_type": "view_access_key",
                        "finality": "final",
                        "account_id": signer.account_id,
                        "public_key": public_key_text(signer.public_key),
                    },
                )
                self._nonces[slot] = int(key["nonce"])
            nonce = self._nonces[slot] + 1
            block_hash = base58.b58decode(self.block()["header"]["hash"])
            tx = Transaction(
                signer.account_id, signer.public_key, nonce, receiver_id, block_hash, actions
            )
            signed = SignedTransaction(tx, signer.sign(tx.hash()))
            encoded = base64.b64encode(signed.encode()).decode()
            if before_sending is not None:
                before_sending(base58.b58encode(tx.hash()).decode())
            try:
                if wait_until == "NONE":
                    tx_hash = self.call("broadcast_tx_async", [encoded])
                    self._nonces[slot] = nonce
                    return TxOutcome(tx_hash, {})
                raw = self.call("send_tx", {"signed_tx_base64": encoded, "wait_until": wait_until})
            except NearRpcError as exc:
                if exc.cause == "INVALID_TRANSACTION":
                    self._nonces.pop(slot, None)  # re-read the nonce next time
                    raise
                self._nonces[slot] = nonce  # accepted; only the wait timed out
                raise
            self._nonces[slot] = nonce
            return TxOutcome(base58.b58encode(tx.hash()).decode(), raw)

    def function_call(
        self,
        signer: Signer,
        receiver_id: str,
        method: str,
        args: Any = None,
        *,
        deposit: int = 0,
        gas: int = 300 * TGAS,
        wait_until: str = "FINAL",
        before_sending: Callable[[str], None] | None = None,
    ) -> TxOutcome:
        action = FunctionCallAction(method, json.dumps(args or {}).encode(), gas, deposit)
        return self.send(signer, receiver_id, [action], wait_until, before_sending=before_sending)
