"""The environment variables the platform sets for every guest, built in one place from the
job's origin. No stored secret may set or override one of these (the keystore refuses them;
the executor would overwrite them anyway)."""

from __future__ import annotations

from outlayer.v1 import coordinator_pb2 as pb
from outlayer.v1 import execution_pb2

RESERVED = frozenset({
    "OUTLAYER_EXECUTION_TYPE", "NEAR_NETWORK_ID", "NEAR_SENDER_ID", "NEAR_USER_ACCOUNT_ID",
    "NEAR_CONTRACT_ID", "NEAR_BLOCK_HEIGHT", "NEAR_BLOCK_TIMESTAMP", "NEAR_TRANSACTION_HASH",
    "NEAR_REQUEST_ID", "NEAR_PAYMENT_YOCTO", "ATTACHED_USD", "USD_PAYMENT", "OUTLAYER_CALL_ID",
    "NEAR_MAX_INSTRUCTIONS", "NEAR_MAX_MEMORY_MB", "NEAR_MAX_EXECUTION_SECONDS",
    "OUTLAYER_PROJECT_OWNER", "OUTLAYER_PROJECT_NAME",
})  # fmt: skip


def is_reserved(name: str) -> bool:
    return name in RESERVED


def guest_env(origin: pb.JobOrigin, limits: execution_pb2.ResourceLimits) -> dict[str, str]:
    """Every reserved variable, set from where the job came from ("" when it does not apply,
    so a guest never sees a variable of the other entry point left over)."""
    env = dict.fromkeys(RESERVED, "")
    env.update({
        "NEAR_MAX_INSTRUCTIONS": _given(limits.max_instructions),
        "NEAR_MAX_MEMORY_MB": _given(limits.max_memory_mb),
        "NEAR_MAX_EXECUTION_SECONDS": _given(limits.max_execution_seconds),
    })  # fmt: skip
    if origin.WhichOneof("origin") == "near":
        near = origin.near
        env.update({
            "OUTLAYER_EXECUTION_TYPE": "NEAR",
            "NEAR_NETWORK_ID": near.network_id,
            "NEAR_SENDER_ID": near.sender_id,
            "NEAR_USER_ACCOUNT_ID": near.sender_id,
            "NEAR_CONTRACT_ID": near.contract_id,
            "NEAR_BLOCK_HEIGHT": str(near.block_height),
            "NEAR_BLOCK_TIMESTAMP": str(near.block_timestamp_ns),
            # JSON-RPC cannot map a receipt back to its transaction; explorers resolve this id.
            "NEAR_TRANSACTION_HASH": near.receipt_id,
            "NEAR_REQUEST_ID": str(near.request_id),
            "NEAR_PAYMENT_YOCTO": near.payment_yocto or "0",
            "ATTACHED_USD": near.attached_usd or "0",
            "USD_PAYMENT": near.attached_usd or "0",
        })  # fmt: skip
    elif origin.WhichOneof("origin") == "https":
        call = origin.https
        deposit = call.attached_deposit or "0"
        env.update({
            "OUTLAYER_EXECUTION_TYPE": "HTTPS",
            "OUTLAYER_CALL_ID": call.call_id,
            "OUTLAYER_PROJECT_OWNER": call.project_owner,
            "OUTLAYER_PROJECT_NAME": call.project_name,
            "NEAR_SENDER_ID": call.sender_id,
            "NEAR_USER_ACCOUNT_ID": call.sender_id,
            # Over HTTPS the attached payment is X-Attached-Deposit: a guest's refund_usd gives
            # back from it, as on chain from attached_usd.
            "NEAR_PAYMENT_YOCTO": deposit,
            "ATTACHED_USD": deposit,
            "USD_PAYMENT": deposit,
        })  # fmt: skip
    return env


def _given(value: float) -> str:
    """A limit as the caller gave it; "" for one left to the platform's default."""
    if not value:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)
