"""Finding OutLayer's ``execution_requested`` events in a block."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

EVENT_PREFIX = "EVENT_JSON:"


@dataclass(frozen=True)
class RequestEvent:
    data: dict[str, Any]
    block_height: int
    block_timestamp_ns: int
    tx_hash: str

    @property
    def request_id(self) -> int:
        return int(self.data["request_id"])


def requests_in(block: dict[str, Any], contract_id: str) -> list[RequestEvent]:
    header = block["block"]["header"]
    found = []
    for shard in block.get("shards", []):
        for item in shard.get("receipt_execution_outcomes", []):
            outcome = item["execution_outcome"]["outcome"]
            if outcome.get("executor_id") != contract_id:
                continue
            status = outcome.get("status")
            if isinstance(status, dict) and "Failure" in status:
                continue  # a panicked request changed nothing
            for log in outcome.get("logs", []):
                event = _event(log)
                if event is not None and event.get("event") == "execution_requested":
                    for data in event.get("data", []):
                        found.append(RequestEvent(
                            data, int(header["height"]), int(header["timestamp_nanosec"]),
                            item.get("tx_hash") or "",
                        ))  # fmt: skip
    return found


def _event(log: str) -> dict[str, Any] | None:
    if not log.startswith(EVENT_PREFIX):
        return None
    try:
        body = json.loads(log[len(EVENT_PREFIX) :])
    except ValueError:
        return None
    if not isinstance(body, dict) or body.get("standard") != "outlayer":
        return None
    return body
