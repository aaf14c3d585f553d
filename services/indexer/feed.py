"""New requests and the contract's self-service state, block by block, over NEAR JSON-RPC.

The contract stores every request under ``req:{id}`` with status ``pending`` when it is made
(contract/outlayer/contract.py), so ``EXPERIMENTAL_changes`` (``data_changes`` of the contract)
lists exactly the requests a block created, and in the same answer the records of projects
(``prj:``, ``pv:``), payment keys (``pk:``), the HTTPS settlement state (``hus``) and earnings
(``earn:``) that the block changed: one call per block, whatever else the block holds. Logs
(the ``execution_requested`` event) are not reachable per block over JSON-RPC, and the
transaction status of a yielded request is not final until it is resolved, so events are for
explorers and the stored records are what the indexer reads.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from outlayer.errors import ErrorCode, OutlayerError
from outlayer.near.rpc import NearRpc, NearRpcError
from services.indexer.events import RequestEvent

REQUEST_KEY_PREFIX = b"req:"
# The records the coordinator mirrors (services/coordinator/chain_mirror.py reads them).
MIRRORED_PREFIXES = (b"prj:", b"pv:", b"pk:", b"hus", b"earn:")


@dataclass(frozen=True)
class StateChange:
    key: str
    value_json: str  # "" when deleted
    deleted: bool


@dataclass(frozen=True)
class BlockChanges:
    height: int
    timestamp_ns: int
    requests: list[RequestEvent]
    state: list[StateChange]  # mirrored records, in the order the block wrote them


class RequestFeed:
    def __init__(self, rpc: NearRpc, contract_id: str) -> None:
        self._rpc = rpc
        self._contract_id = contract_id

    def last_final_height(self) -> int:
        return int(self._rpc.block()["header"]["height"])

    def requests_at(self, height: int) -> list[RequestEvent] | None:
        """The requests made in block ``height``; None when the chain skipped that height."""
        block = self.block_at(height)
        return None if block is None else block.requests

    def block_at(self, height: int) -> BlockChanges | None:
        """What block ``height`` changed that the platform follows; None when the chain
        skipped that height."""
        try:
            header = self._rpc.block(height)["header"]
            changes = self._rpc.call(
                "EXPERIMENTAL_changes",
                {
                    "block_id": height,
                    "changes_type": "data_changes",
                    "account_ids": [self._contract_id],
                    "key_prefix_base64": "",  # every record: one call per block
                },
            )
        except NearRpcError as exc:
            if exc.cause == "UNKNOWN_BLOCK":
                return None
            raise
        found = []
        state = []
        for change in changes.get("changes", []):
            key = base64.b64decode(change.get("change", {}).get("key_base64", ""))
            if key.startswith(REQUEST_KEY_PREFIX):
                request = _new_request(change)
                if request is not None:
                    found.append(
                        RequestEvent(
                            data=request,
                            block_height=int(header["height"]),
                            block_timestamp_ns=int(header["timestamp_nanosec"]),
                            receipt_id=str(change["cause"].get("receipt_hash", "")),
                        )
                    )
            elif key.startswith(MIRRORED_PREFIXES):
                state.append(_state_change(key, change))
        return BlockChanges(int(header["height"]), int(header["timestamp_nanosec"]), found, state)


def _state_change(key: bytes, change: dict[str, Any]) -> StateChange:
    if change.get("type") == "data_deletion":
        return StateChange(key.decode(), "", True)
    value = base64.b64decode(change["change"].get("value_base64", ""))
    return StateChange(key.decode(), value.decode(), False)


def _new_request(change: dict[str, Any]) -> dict[str, Any] | None:
    if change.get("type") != "data_update":
        return None
    try:
        record = json.loads(base64.b64decode(change["change"]["value_base64"]))
    except (KeyError, ValueError) as exc:
        raise OutlayerError(
            ErrorCode.INTERNAL,
            f"a request record of the contract is not JSON ({exc}); is contract_id right?",
        ) from None
    if not isinstance(record, dict) or record.get("status") != "pending":
        return None  # a later update (resolved, failed) of a request already picked up
    return record
