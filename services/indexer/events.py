"""A request the contract recorded, with where on chain it was made."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RequestEvent:
    data: dict[str, Any]
    block_height: int
    block_timestamp_ns: int
    receipt_id: str  # the receipt that ran request_execution

    @property
    def request_id(self) -> int:
        return int(self.data["request_id"])
