"""One OutLayer request end to end over NEAR JSON-RPC, against a running localnet.

Deploys the contract (once), makes a request as a user, plays the worker (runs the guest in the
real executor sandbox and resolves the request on chain), and returns what the user's
transaction finally returned. Until the compiler service lands, the request's code source is
served by the example guest built by set-up (build/guests/echo_json_rust.wasm).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nacl.signing

from devtools.guestbuild import CONTRACTS_OUT_DIR, OUT_DIR
from outlayer.config import Settings
from outlayer.errors import ErrorCode, OutlayerError, invalid_argument
from outlayer.limits import RequestedLimits
from outlayer.near.actions import (
    Action,
    AddKeyAction,
    CreateAccountAction,
    DeployContractAction,
    TransferAction,
)
from outlayer.near.keys import Signer
from outlayer.near.rpc import NearRpc, NearRpcError, TxOutcome
from outlayer.result import ResponseFormat
from services.executor import ExecutionJob, Executor

NEAR = 10**24
SOURCE = {"repo": "https://github.com/outlayer/echo-json", "commit": "0" * 40}
GUEST = OUT_DIR / "echo_json_rust.wasm"
CONTRACT = CONTRACTS_OUT_DIR / "outlayer.wasm"
LIMITS = {"max_instructions": 100_000_000, "max_execution_seconds": 10, "max_memory_mb": 64}


def run_demo(
    rpc_url: str,
    root_key: Path,
    input_data: str,
    settings: Settings,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """``settings``: the executor's (its module cache, its limits), as the caller configured."""
    if not root_key.is_file():
        raise OutlayerError(
            ErrorCode.NOT_FOUND,
            f"no root key at {root_key}: start `outlayer localnet serve` first (it writes it)",
        )
    for artifact in (GUEST, CONTRACT):
        if not artifact.is_file():
            raise OutlayerError(ErrorCode.NOT_FOUND, f"{artifact} is missing: run scripts/setup.sh")
    rpc = NearRpc(rpc_url)
    root = Signer.load(root_key)
    outlayer, worker = provision(rpc, root, root_key.parent, log)
    alice = account(rpc, root, "alice", root_key.parent, log)

    log(f"{alice.account_id} requests an execution")
    sent = send_request(
        rpc, alice, outlayer.account_id, code_source=SOURCE, input_data=input_data, limits=LIMITS
    )
    event = _wait_for_event(rpc, sent.tx_hash, alice.account_id)
    log(f"the contract emitted execution_requested for request {event['request_id']}")

    log("the worker runs the guest in the executor sandbox")
    with Executor(settings, prestart=False) as executor:
        limits = event["resource_limits"]
        result = executor.execute(ExecutionJob(
            wasm=GUEST.read_bytes(), input=event["input_data"].encode(),
            env={"NEAR_SENDER_ID": event["sender_id"], "NEAR_REQUEST_ID": str(event["request_id"])},
            limits=RequestedLimits(limits["max_instructions"], limits["max_memory_mb"],
                                   limits["max_execution_seconds"]),
            response_format=ResponseFormat(event["response_format"]),
        ))  # fmt: skip
    used = result.resources_used
    resolved = rpc.function_call(worker, outlayer.account_id, "resolve_execution", {
        "request_id": event["request_id"], "success": result.ok, "output": result.output,
        "error": None if result.error is None else {"type": result.error.type.value,
                                                    "message": result.error.message},
        "resources_used": {"instructions": used.instructions, "time_ms": used.time_ms},
    })  # fmt: skip
    if resolved.failure:
        raise OutlayerError(ErrorCode.INTERNAL, f"resolve_execution failed: {resolved.failure}")
    log(f"{worker.account_id} resolved the request; waiting for the user's transaction")
    final = wait_final(rpc, sent.tx_hash, alice.account_id)
    value: dict[str, Any] = final.value
    return value


def provision(
    rpc: NearRpc, root: Signer, keys: Path, log: Callable[[str], None] = print
) -> tuple[Signer, Signer]:
    """The OutLayer contract deployed at ``outlayer.<root>`` with ``worker.<root>`` registered
    as its worker (created once; later calls reuse them). Returns (contract, worker) signers."""
    outlayer = account(rpc, root, "outlayer", keys, log)
    worker = account(rpc, root, "worker", keys, log)
    _deploy(rpc, outlayer, worker, log)
    return outlayer, worker


def account(
    rpc: NearRpc, root: Signer, name: str, keys: Path, log: Callable[[str], None] = print
) -> Signer:
    """``<name>.<root>`` with a key saved in ``keys`` (created with 50 NEAR if missing)."""
    account_id = f"{name}.{root.account_id}"
    key_file = keys / f"{account_id}.json"
    try:
        rpc.view_account(account_id)
        if key_file.is_file():
            return Signer.load(key_file)
        raise OutlayerError(ErrorCode.CONFIGURATION,
                            f"{account_id} exists but its key {key_file} is missing")  # fmt: skip
    except NearRpcError as exc:
        if exc.cause != "UNKNOWN_ACCOUNT":
            raise
    signer = Signer(account_id, nacl.signing.SigningKey.generate())
    actions: list[Action] = [
        CreateAccountAction(),
        TransferAction(50 * NEAR),
        AddKeyAction(signer.public_key, 0),
    ]
    outcome = rpc.send(root, account_id, actions)
    if outcome.failure:
        raise OutlayerError(ErrorCode.INTERNAL, f"creating {account_id} failed: {outcome.failure}")
    signer.save(key_file)
    log(f"created {account_id}")
    return signer


def _deploy(rpc: NearRpc, outlayer: Signer, worker: Signer, log: Callable[[str], None]) -> None:
    if rpc.view_account(outlayer.account_id)["code_hash"] != "11111111111111111111111111111111":
        return
    code = CONTRACT.read_bytes()
    rpc.send(outlayer, outlayer.account_id, [DeployContractAction(code)])
    rpc.function_call(outlayer, outlayer.account_id, "new", {"owner_id": outlayer.account_id})
    rpc.function_call(
        outlayer, outlayer.account_id, "add_worker", {"account_id": worker.account_id}
    )
    # The indexer signs with the worker's key, and settles HTTPS usage on chain with it too.
    rpc.function_call(
        outlayer, outlayer.account_id, "set_operator", {"account_id": worker.account_id}
    )
    log(f"deployed the OutLayer contract ({len(code)} bytes) to {outlayer.account_id}")


USD = 10**6  # the development stablecoin has 6 decimals, as USDC


def provision_stablecoin(
    rpc: NearRpc, root: Signer, keys: Path, *, outlayer: Signer, holder: Signer,
    log: Callable[[str], None] = print,
) -> str:  # fmt: skip
    """``usdc.<root>``: the test NEP-141 token (6 decimals), whitelisted by the contract, its
    supply (1,000,000 USD) held by ``holder``. Returns its account id."""
    token = account(rpc, root, "usdc", keys, log)
    if rpc.view_account(token.account_id)["code_hash"] == "11111111111111111111111111111111":
        code = (CONTRACTS_OUT_DIR / "test_token.wasm").read_bytes()
        rpc.send(token, token.account_id, [DeployContractAction(code)])
        supply = {"owner_id": holder.account_id, "total_supply": str(1_000_000 * USD)}
        _ok(rpc.function_call(token, token.account_id, "new", supply), "the token")
        listed = {"token_id": token.account_id}
        _ok(rpc.function_call(outlayer, outlayer.account_id, "add_token", listed), "add_token")
        log(f"deployed the development stablecoin {token.account_id} (6 decimals); "
            f"{holder.account_id} holds its supply")  # fmt: skip
    return token.account_id


def create_funded_key(
    rpc: NearRpc, owner: Signer, contract_id: str, token_id: str, amount: int
) -> tuple[int, str]:
    """A payment key made on chain by ``owner`` (the secret never leaves this machine: the
    contract gets its SHA-256) and topped up with ``amount`` of the token. (nonce, secret)."""
    import hashlib
    import secrets

    secret = "olk_" + secrets.token_urlsafe(32)
    made = _ok(rpc.function_call(owner, contract_id, "create_payment_key", {
        "key_hash": hashlib.sha256(secret.encode()).hexdigest(), "token_id": token_id,
    }, deposit=NEAR // 10), "create_payment_key")  # fmt: skip
    nonce = int(made["nonce"])
    msg = json.dumps({"action": "top_up_payment_key", "owner": owner.account_id, "nonce": nonce})
    transfer = {"receiver_id": contract_id, "amount": str(amount), "msg": msg}
    _ok(rpc.function_call(owner, token_id, "ft_transfer_call", transfer, deposit=1), "the top-up")
    key = rpc.view(contract_id, "get_payment_key", {"owner": owner.account_id, "nonce": nonce})
    if int(key["balance"]) != amount:  # the token gave it back: the contract logged why
        raise OutlayerError(ErrorCode.INTERNAL, f"the top-up of payment key {nonce} came back")
    return nonce, secret


def _ok(outcome: TxOutcome, what: str) -> Any:
    if outcome.failure is not None:
        raise OutlayerError(ErrorCode.INTERNAL, f"{what} failed: {outcome.failure}")
    return outcome.value


def _wait_for_event(rpc: NearRpc, tx_hash: str, sender: str, timeout_s: float = 30) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        outcome = rpc.tx_status(tx_hash, sender)
        if outcome.failure:
            raise OutlayerError(ErrorCode.INTERNAL, f"the request failed: {outcome.failure}")
        for line in outcome.logs:
            if line.startswith("EVENT_JSON:"):
                body = json.loads(line[len("EVENT_JSON:") :])
                if body.get("event") == "execution_requested":
                    return body["data"][0]
        time.sleep(0.2)
    raise OutlayerError(ErrorCode.UNAVAILABLE, "no execution_requested event within 30 s")


def send_request(
    rpc: NearRpc,
    user: Signer,
    contract_id: str,
    *,
    code_source: dict[str, str],
    input_data: str,
    limits: dict[str, int],
    secrets_ref: dict[str, str] | None = None,
    response_format: str = "json",
) -> TxOutcome:
    """``request_execution`` as a user sends it: the deposit the contract estimates for these
    limits, JSON output by default, answered once the transaction is included (the result comes
    later); a refusal raises with the contract's words."""
    estimate = {"resource_limits": limits, "input_data": input_data}  # storage grows with input
    cost = int(rpc.view(contract_id, "estimate_execution_cost", estimate))
    args: dict[str, object] = {
        "code_source": code_source,
        "resource_limits": limits,
        "input_data": input_data,
        "response_format": response_format,
    }
    if secrets_ref is not None:
        args["secrets_ref"] = secrets_ref
    sent = rpc.function_call(
        user, contract_id, "request_execution", args, deposit=cost, wait_until="INCLUDED"
    )
    if sent.refusal is not None:
        raise invalid_argument(f"{contract_id} refused the request: {sent.refusal}")
    return sent


def wait_final(rpc: NearRpc, tx_hash: str, sender: str, timeout_s: float = 60) -> TxOutcome:
    """The transaction's status once every receipt it caused has run (the request settled)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        outcome = rpc.tx_status(tx_hash, sender)
        if outcome.raw.get("final_execution_status") == "FINAL":
            return outcome
        time.sleep(0.2)
    raise OutlayerError(
        ErrorCode.UNAVAILABLE,
        f"the request did not settle within {timeout_s:g} s: are the indexer and an executor up?",
    )
