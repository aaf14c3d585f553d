"""A NEAR JSON-RPC server over a localnet chain (the subset OutLayer's clients use).

Methods: ``status``, ``block``, ``chunk``, ``query`` (``call_function``, ``view_account``,
``view_access_key``, ``view_access_key_list``), ``send_tx``, ``broadcast_tx_async``,
``broadcast_tx_commit``, ``tx``, ``EXPERIMENTAL_tx_status``, ``EXPERIMENTAL_changes``,
``gas_price``. Shapes and error names follow nearcore's RPC (outcomes carry ``proof`` and
``metadata``; a public key without a type prefix is ed25519), so the same client works against
a real node: tests drive it with py-near too. Every malformed parameter gets a JSON-RPC error.
Blocks are produced on a timer, as on a real chain.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import base58
import nacl.exceptions
import nacl.signing

from localnet.chain import Block, Chain, ChainError, Outcome
from outlayer.near.actions import (
    Action,
    AddKeyAction,
    CreateAccountAction,
    DeleteAccountAction,
    DeleteKeyAction,
    DeployContractAction,
    FunctionCallAction,
    TransferAction,
)
from outlayer.near.borsh import BorshError, SignedTransaction
from outlayer.near.keys import public_key_text

CHAIN_ID = "localnet"
WAIT_LEVELS = ("NONE", "INCLUDED", "EXECUTED_OPTIMISTIC", "INCLUDED_FINAL", "EXECUTED", "FINAL")


class RpcError(Exception):
    def __init__(self, name: str, cause: str, message: str, code: int = -32000) -> None:
        super().__init__(message)
        self.name, self.cause, self.message, self.code = name, cause, message, code

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "cause": {"name": self.cause, "info": {"message": self.message}},
            "code": self.code,
            "message": "Server error",
            "data": self.message,
        }


def _b58(data: bytes) -> str:
    return base58.b58encode(data).decode()


class LocalnetNode:
    """The chain plus a lock and a block producer: what the RPC server serves."""

    def __init__(self, chain: Chain, block_time_s: float = 0.5) -> None:
        self.chain = chain
        self.lock = threading.RLock()
        self.block_time_s = block_time_s
        self._stop = threading.Event()
        self._new_block = threading.Condition(self.lock)
        self._producer = threading.Thread(target=self._produce, name="block-producer", daemon=True)

    def start(self) -> None:
        self._producer.start()

    def stop(self) -> None:
        self._stop.set()
        self._producer.join(timeout=5)

    def _produce(self) -> None:
        while not self._stop.wait(self.block_time_s):
            with self.lock:
                self.chain.produce_block()
                self._new_block.notify_all()

    def wait_for(self, done: Callable[[], bool], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        with self.lock:
            while not done():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._new_block.wait(remaining)
            return True

    # --- dispatch -------------------------------------------------------------------------------
    def handle(self, method: str, params: Any) -> Any:
        handler = getattr(self, "rpc_" + method, None)
        if handler is None:
            raise RpcError(
                "REQUEST_VALIDATION_ERROR",
                "METHOD_NOT_FOUND",
                f"method {method!r} is not served by localnet",
                -32601,
            )
        return handler(params)

    def rpc_status(self, params: Any) -> Any:
        with self.lock:
            head = self.chain.head
            return {
                "chain_id": CHAIN_ID,
                "version": {"version": "localnet", "build": "outlayer"},
                "sync_info": {
                    "latest_block_height": head.height,
                    "latest_block_hash": _b58(head.hash),
                    "latest_block_time": _iso(head.timestamp_ns),
                    "syncing": False,
                },
            }

    def rpc_gas_price(self, params: Any) -> Any:
        return {"gas_price": str(self.chain.gas_price)}

    def rpc_block(self, params: Any) -> Any:
        with self.lock:
            block = self._find_block(params)
            return {
                "author": "localnet",
                "header": self._header(block),
                "chunks": [
                    {
                        "chunk_hash": _b58(_chunk_hash(block)),
                        "shard_id": 0,
                        "height_created": block.height,
                        "height_included": block.height,
                    }
                ],
            }

    def rpc_chunk(self, params: Any) -> Any:
        with self.lock:
            if isinstance(params, dict) and "chunk_id" in params:
                wanted = _hash(params["chunk_id"], "chunk_id")
                found = [b for b in self.chain.blocks if _chunk_hash(b) == wanted]
                if not found:
                    raise RpcError("HANDLER_ERROR", "UNKNOWN_CHUNK", "no such chunk")
                block = found[0]
            else:
                block = self._find_block(params)
            return {
                "author": "localnet",
                "header": {
                    "chunk_hash": _b58(_chunk_hash(block)),
                    "shard_id": 0,
                    "height_created": block.height,
                    "height_included": block.height,
                    "prev_block_hash": _b58(block.prev_hash),
                },
                "transactions": [
                    self._tx_view(self.chain.transactions[h]) for h in block.tx_hashes
                ],
                "receipts": [self._receipt_view(rid) for rid in block.receipt_ids],
            }

    def rpc_query(self, params: Any) -> Any:
        if not isinstance(params, dict):
            raise _invalid("query takes an object of parameters")
        kind = params.get("request_type")
        with self.lock:
            head = self.chain.head
            stamp = {"block_height": head.height, "block_hash": _b58(head.hash)}
            account_id = params.get("account_id")
            if not isinstance(account_id, str) or not account_id:
                raise _invalid("query needs account_id: a string")
            if kind not in ("view_account", "view_access_key", "view_access_key_list",
                            "call_function"):  # fmt: skip
                raise _invalid(f"request_type {kind!r} is not served by localnet")
            if account_id not in self.chain.accounts:
                raise RpcError(
                    "HANDLER_ERROR",
                    "UNKNOWN_ACCOUNT",
                    f"account {account_id} does not exist while viewing",
                )
            account = self.chain.accounts[account_id]
            if kind == "view_account":
                return {
                    "amount": str(account.amount),
                    "locked": str(account.locked),
                    "code_hash": _b58(_code_hash(account.code)),
                    "storage_usage": self.chain.storage_usage(account),
                    "storage_paid_at": 0,
                    **stamp,
                }
            if kind == "view_access_key":
                key = account.access_keys.get(_public_key(params.get("public_key")))
                if key is None:
                    raise RpcError(
                        "HANDLER_ERROR",
                        "UNKNOWN_ACCESS_KEY",
                        f"access key {params.get('public_key')} does not exist",
                    )
                return {"nonce": key.nonce, "permission": _permission(key.function_call), **stamp}
            if kind == "view_access_key_list":
                keys = [
                    {
                        "public_key": public_key_text(public),
                        "access_key": {
                            "nonce": k.nonce,
                            "permission": _permission(k.function_call),
                        },
                    }
                    for public, k in account.access_keys.items()
                ]
                return {"keys": keys, **stamp}
            if kind == "call_function":
                args = _base64(params.get("args_base64"), "args_base64")
                method = params.get("method_name")
                if not isinstance(method, str) or not method:
                    raise _invalid("call_function needs method_name: a string")
                try:
                    data, logs = self.chain.view(account_id, method, args)
                except ChainError as exc:
                    return {"error": str(exc), "logs": [], **stamp}
                return {"result": list(data or b""), "logs": logs, **stamp}
        raise _invalid(f"request_type {kind!r} is not served by localnet")

    def rpc_broadcast_tx_async(self, params: Any) -> Any:
        return _b58(self._submit(_first(params)))

    def rpc_broadcast_tx_commit(self, params: Any) -> Any:
        return self.rpc_send_tx({"signed_tx_base64": _first(params), "wait_until": "FINAL"})

    def rpc_send_tx(self, params: Any) -> Any:
        if not isinstance(params, dict) or "signed_tx_base64" not in params:
            raise _invalid("send_tx takes {signed_tx_base64, wait_until}")
        wait = params.get("wait_until", "EXECUTED_OPTIMISTIC")
        if wait not in WAIT_LEVELS:
            raise _invalid(f"wait_until must be one of {', '.join(WAIT_LEVELS)}")
        tx_hash = self._submit(params["signed_tx_base64"])
        return self._await(tx_hash, wait)

    def rpc_tx(self, params: Any) -> Any:
        if isinstance(params, list):
            if len(params) != 2:
                raise _invalid("tx takes [tx_hash, sender_account_id]")
            params = {"tx_hash": params[0], "sender_account_id": params[1]}
        if not isinstance(params, dict) or "tx_hash" not in params:
            raise _invalid("tx takes {tx_hash, sender_account_id, wait_until}")
        tx_hash = _hash(params["tx_hash"], "tx_hash")
        wait = params.get("wait_until", "NONE")
        if wait not in WAIT_LEVELS:
            raise _invalid(f"wait_until must be one of {', '.join(WAIT_LEVELS)}")
        with self.lock:
            if tx_hash not in self.chain.transactions:
                raise RpcError(
                    "HANDLER_ERROR",
                    "UNKNOWN_TRANSACTION",
                    f"transaction {params['tx_hash']} is not known",
                )
        return self._await(tx_hash, wait)

    rpc_EXPERIMENTAL_tx_status = rpc_tx  # noqa: N815 (NEAR's method name)

    # --- state changes ----------------------------------------------------------------------------
    def rpc_EXPERIMENTAL_changes(self, params: Any) -> Any:  # noqa: N802 (NEAR's method name)
        """Contract storage changes in one block (``changes_type: data_changes``), as nearcore
        answers them: each with its cause, the receipt that wrote it."""
        if not isinstance(params, dict) or params.get("changes_type") != "data_changes":
            raise _invalid("localnet serves EXPERIMENTAL_changes for changes_type data_changes")
        accounts = params.get("account_ids")
        if not isinstance(accounts, list) or not accounts:
            raise _invalid("data_changes needs account_ids: a non-empty list")
        prefix = _base64(params.get("key_prefix_base64"), "key_prefix_base64")
        with self.lock:
            block = self._find_block(params)
            changes = [
                {
                    "cause": {"type": "receipt_processing", "receipt_hash": _b58(c.receipt_id)},
                    "type": "data_deletion" if c.value is None else "data_update",
                    "change": {
                        "account_id": c.account_id,
                        "key_base64": base64.b64encode(c.key).decode(),
                        **(
                            {}
                            if c.value is None
                            else {"value_base64": base64.b64encode(c.value).decode()}
                        ),
                    },
                }
                for c in block.data_changes
                if c.account_id in accounts and c.key.startswith(prefix)
            ]
            return {"block_hash": _b58(block.hash), "changes": changes}

    def _submit(self, signed_base64: Any) -> bytes:
        if not isinstance(signed_base64, str):
            raise _invalid("the signed transaction must be a base64 string")
        try:
            signed = SignedTransaction.decode(base64.b64decode(signed_base64, validate=True))
        except (BorshError, ValueError) as exc:
            raise RpcError(
                "REQUEST_VALIDATION_ERROR",
                "PARSE_ERROR",
                f"the transaction cannot be decoded: {exc}",
                -32700,
            ) from None
        tx = signed.transaction
        tx_hash = tx.hash()
        try:
            nacl.signing.VerifyKey(tx.public_key).verify(tx_hash, signed.signature)
        except nacl.exceptions.BadSignatureError:
            raise _invalid_tx("InvalidSignature", "the signature does not match") from None
        with self.lock:
            if tx_hash in self.chain.transactions:
                return tx_hash  # resubmission of a known transaction: idempotent
            if not any(b.hash == tx.block_hash for b in self.chain.blocks[-600:]):
                raise _invalid_tx("Expired", "block_hash is unknown or too old; use a recent block")
            try:
                self.chain.submit(
                    signer_id=tx.signer_id,
                    public_key=tx.public_key,
                    nonce=tx.nonce,
                    receiver_id=tx.receiver_id,
                    actions=tx.actions,
                    tx_hash=tx_hash,
                    signature=signed.signature,
                )
            except ChainError as exc:
                name, _, detail = str(exc).partition(": ")
                raise _invalid_tx(name, detail or str(exc)) from None
        return tx_hash

    def _await(self, tx_hash: bytes, wait: str) -> Any:
        level = WAIT_LEVELS.index(wait)

        def reached() -> bool:
            if level >= WAIT_LEVELS.index("EXECUTED_OPTIMISTIC"):
                return self.chain.is_final(tx_hash)
            if level >= WAIT_LEVELS.index("INCLUDED"):
                return bool(self.chain.receipts_of(tx_hash))
            return True

        if not self.wait_for(reached, timeout_s=10):
            raise RpcError(
                "HANDLER_ERROR",
                "TIMEOUT_ERROR",
                "the transaction did not reach that status in 10 s; ask again with tx",
            )
        with self.lock:
            return self._status(tx_hash)

    def _status(self, tx_hash: bytes) -> dict[str, Any]:
        record = self.chain.transactions[tx_hash]
        final = self.chain.is_final(tx_hash)
        outcomes = self.chain.receipts_of(tx_hash)
        last = self.chain.final_outcome(tx_hash)
        first = self.chain.outcomes.get(record.receipt_id)
        status: Any
        if first is not None and not first.success:
            status = _failure(first)
        elif last is None:
            status = "Started" if outcomes else "NotStarted"
        elif not last.success:
            status = _failure(last)
        else:
            status = {"SuccessValue": base64.b64encode(last.return_data or b"").decode()}
        execution = "FINAL" if final else ("INCLUDED" if outcomes else "NONE")
        return {
            "final_execution_status": execution,
            "status": status,
            "transaction": self._tx_view(record),
            "transaction_outcome": {
                "id": _b58(tx_hash),
                "block_hash": _b58(
                    self.chain.blocks[min(record.block_height, self.chain.height)].hash
                ),
                "proof": [],
                "outcome": {
                    "logs": [],
                    "receipt_ids": [_b58(record.receipt_id)],
                    "gas_burnt": 0,
                    "tokens_burnt": "0",
                    "executor_id": record.signer_id,
                    "status": {"SuccessReceiptId": _b58(record.receipt_id)},
                    "metadata": {"version": 1, "gas_profile": None},
                },
            },
            "receipts_outcome": [self._outcome_view(o) for o in outcomes],
        }

    # --- views ----------------------------------------------------------------------------------
    def _find_block(self, params: Any) -> Block:
        if isinstance(params, list) and params:
            params = {"block_id": params[0]}
        if not isinstance(params, dict):
            raise _invalid("block takes {finality} or {block_id}")
        if "block_id" not in params:
            return self.chain.head
        block_id = params["block_id"]
        if isinstance(block_id, bool) or not isinstance(block_id, (int, str)):
            raise _invalid("block_id is a height (an integer) or a block hash (base58)")
        if isinstance(block_id, int):
            if 0 <= block_id <= self.chain.height:
                return self.chain.blocks[block_id]
        else:
            wanted = _hash(block_id, "block_id")
            for block in reversed(self.chain.blocks):
                if block.hash == wanted:
                    return block
        raise RpcError("HANDLER_ERROR", "UNKNOWN_BLOCK", f"block {block_id} is not known")

    def _header(self, block: Block) -> dict[str, Any]:
        return {
            "height": block.height,
            "hash": _b58(block.hash),
            "prev_hash": _b58(block.prev_hash),
            "timestamp": block.timestamp_ns,
            "timestamp_nanosec": str(block.timestamp_ns),
            "epoch_id": _b58(bytes(32)),
            "gas_price": str(self.chain.gas_price),
            "chunks_included": 1,
        }

    def _tx_view(self, record: Any) -> dict[str, Any]:
        return {
            "signer_id": record.signer_id,
            "public_key": public_key_text(record.public_key),
            "nonce": record.nonce,
            "receiver_id": record.receiver_id,
            "actions": [_action_view(a) for a in record.actions],
            "signature": "ed25519:" + _b58(record.signature or bytes(64)),
            "hash": _b58(record.hash),
            "priority_fee": 0,
        }

    def _receipt_view(self, receipt_id: bytes) -> dict[str, Any]:
        outcome = self.chain.outcomes.get(receipt_id)
        return {
            "receipt_id": _b58(receipt_id),
            "receiver_id": outcome.executor_id if outcome else None,
        }

    def _outcome_view(self, outcome: Outcome) -> dict[str, Any]:
        status: Any
        if not outcome.success:
            status = _failure(outcome)
        elif outcome.return_receipt is not None:
            status = {"SuccessReceiptId": _b58(outcome.return_receipt)}
        else:
            status = {"SuccessValue": base64.b64encode(outcome.return_data or b"").decode()}
        return {
            "id": _b58(outcome.receipt_id),
            "block_hash": _b58(self.chain.blocks[outcome.block_height].hash),
            "proof": [],  # one shard, no outcome Merkle tree: an empty path
            "outcome": {
                "logs": outcome.logs,
                "receipt_ids": [_b58(r) for r in outcome.receipt_ids],
                "gas_burnt": outcome.gas_burnt,
                "tokens_burnt": str(outcome.tokens_burnt),
                "executor_id": outcome.executor_id,
                "status": status,
                # nearcore's ExecutionMetadataView; localnet keeps no per-cost gas profile.
                "metadata": {"version": 3, "gas_profile": []},
            },
        }


def _failure(outcome: Outcome) -> dict[str, Any]:
    return {
        "Failure": {
            "ActionError": {
                "index": 0,
                "kind": {"FunctionCallError": {"ExecutionError": outcome.failure or "failed"}},
            }
        }
    }


def _action_view(action: Action) -> Any:
    if isinstance(action, CreateAccountAction):
        return "CreateAccount"
    if isinstance(action, DeployContractAction):
        return {"DeployContract": {"code": _b58(_code_hash(action.code))}}
    if isinstance(action, FunctionCallAction):
        return {
            "FunctionCall": {
                "method_name": action.method_name,
                "args": base64.b64encode(action.args).decode(),
                "gas": action.gas,
                "deposit": str(action.deposit),
            }
        }
    if isinstance(action, TransferAction):
        return {"Transfer": {"deposit": str(action.deposit)}}
    if isinstance(action, AddKeyAction):
        return {
            "AddKey": {
                "public_key": public_key_text(action.public_key[-32:]),
                "access_key": {
                    "nonce": action.nonce,
                    "permission": _permission(action.function_call),
                },
            }
        }
    if isinstance(action, DeleteKeyAction):
        return {"DeleteKey": {"public_key": public_key_text(action.public_key[-32:])}}
    assert isinstance(action, DeleteAccountAction)
    return {"DeleteAccount": {"beneficiary_id": action.beneficiary_id}}


def _permission(function_call: Any) -> Any:
    if function_call is None:
        return "FullAccess"
    allowance, receiver, methods = function_call
    return {
        "FunctionCall": {
            "allowance": None if allowance is None else str(allowance),
            "receiver_id": receiver,
            "method_names": methods,
        }
    }


def _code_hash(code: bytes) -> bytes:
    return hashlib.sha256(code).digest() if code else bytes(32)


def _chunk_hash(block: Block) -> bytes:
    return hashlib.sha256(b"chunk" + block.hash).digest()


def _iso(timestamp_ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp_ns / 1e9)) + "Z"


def _first(params: Any) -> Any:
    if isinstance(params, list) and params:
        return params[0]
    raise _invalid("expected [signed_tx_base64]")


def _public_key(text: Any) -> bytes:
    """A public key as nearcore reads one: ``ed25519:<base58>``, or bare base58 (ed25519)."""
    if not isinstance(text, str) or not text:
        raise _invalid("public_key is required: ed25519:<base58>")
    curve, _, encoded = text.rpartition(":")
    if curve not in ("", "ed25519"):
        raise _invalid(f"public key {text!r}: localnet has ed25519 keys only")
    return _base58_32(encoded, f"public key {text!r}", "an ed25519 key is 32 bytes")


def _hash(text: Any, what: str) -> bytes:
    if not isinstance(text, str) or not text:
        raise _invalid(f"{what} must be a base58 hash")
    return _base58_32(text, f"{what} {text!r}", "a hash is 32 bytes")


def _base58_32(encoded: str, shown: str, expected: str) -> bytes:
    """32 bytes in base58 (a key or a hash), or a JSON-RPC error naming ``shown``."""
    try:
        raw = base58.b58decode(encoded)
    except ValueError:
        raise _invalid(f"{shown} is not base58") from None
    if len(raw) != 32:
        raise _invalid(f"{shown} is {len(raw)} bytes; {expected}")
    return bytes(raw)


def _base64(text: Any, what: str) -> bytes:
    if text is None or text == "":
        return b""
    if not isinstance(text, str):
        raise _invalid(f"{what} must be a base64 string")
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise _invalid(f"{what} is not valid base64") from None


def _invalid(message: str) -> RpcError:
    return RpcError("REQUEST_VALIDATION_ERROR", "PARSE_ERROR", message, -32700)


def _invalid_tx(kind: str, message: str) -> RpcError:
    error = RpcError("HANDLER_ERROR", "INVALID_TRANSACTION", f"{kind}: {message}")
    error.kind = kind  # type: ignore[attr-defined]
    return error


class _Handler(BaseHTTPRequestHandler):
    node: LocalnetNode

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self._cors()
        self.end_headers()
        self.wfile.write(data)

    def _cors(self) -> None:
        """As NEAR's RPC nodes do: any page may call (a browser wallet, the dashboard); the
        chain's answers are public and every transaction carries its own signature."""
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Allow-Methods", "POST, OPTIONS")
        self.send_header("Access-Control-Allow-Headers", "Content-Type")
        self.send_header("Access-Control-Max-Age", "86400")

    def do_OPTIONS(self) -> None:  # a browser's preflight
        self.send_response(204)
        self._cors()
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        request_id: Any = None
        try:
            length = _content_length(self.headers.get("Content-Length"))
            try:
                request = json.loads(self.rfile.read(length))
                request_id = request.get("id")
                method, params = request["method"], request.get("params")
            except (ValueError, KeyError, AttributeError):
                raise _invalid("the body is not a JSON-RPC 2.0 request") from None
            if not isinstance(method, str):
                raise _invalid("method must be a string")
            body: dict[str, Any] = {
                "jsonrpc": "2.0",
                "id": request_id,
                "result": self.node.handle(method, params),
            }
        except RpcError as exc:
            body = {"jsonrpc": "2.0", "id": request_id, "error": exc.to_json()}
        except (KeyError, IndexError, TypeError, ValueError) as exc:  # parameters we missed
            error = _invalid(f"malformed parameters: {type(exc).__name__}: {exc}")
            body = {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}
        except Exception as exc:  # a localnet bug: still an answer, never a dropped connection
            error = RpcError("INTERNAL_ERROR", "INTERNAL_ERROR", f"{type(exc).__name__}: {exc}")
            body = {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}
        self._send(200, body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the CLI prints what matters


MAX_BODY_BYTES = 16 * 1024 * 1024


def _content_length(header: str | None) -> int:
    if header is None:
        return 0
    if not header.strip().isdigit():
        raise _invalid(f"Content-Length {header!r} is not a number of bytes")
    length = int(header)
    if length > MAX_BODY_BYTES:
        raise _invalid(f"the body is larger than {MAX_BODY_BYTES} bytes")
    return length


def make_server(node: LocalnetNode, host: str, port: int) -> ThreadingHTTPServer:
    handler = type("LocalnetHandler", (_Handler,), {"node": node})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    return server
