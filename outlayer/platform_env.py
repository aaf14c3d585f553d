"""The environment variables the platform sets for every guest. No stored secret may set or
override one of these (the keystore refuses them; the executor would overwrite them anyway)."""

from __future__ import annotations

RESERVED = frozenset({
    "OUTLAYER_EXECUTION_TYPE", "NEAR_NETWORK_ID", "NEAR_SENDER_ID", "NEAR_USER_ACCOUNT_ID",
    "NEAR_CONTRACT_ID", "NEAR_BLOCK_HEIGHT", "NEAR_BLOCK_TIMESTAMP", "NEAR_TRANSACTION_HASH",
    "NEAR_REQUEST_ID", "NEAR_PAYMENT_YOCTO", "ATTACHED_USD", "USD_PAYMENT", "OUTLAYER_CALL_ID",
    "NEAR_MAX_INSTRUCTIONS", "NEAR_MAX_MEMORY_MB", "NEAR_MAX_EXECUTION_SECONDS",
    "OUTLAYER_PROJECT_OWNER", "OUTLAYER_PROJECT_NAME",
})  # fmt: skip


def is_reserved(name: str) -> bool:
    return name in RESERVED
