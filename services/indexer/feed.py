"""The block feed in neardata's layout (``/v0/block/{height}``): localnet serves it, and so do
neardata.xyz and NEAR Lake-compatible services for mainnet and testnet."""

from __future__ import annotations

from typing import Any

import httpx

from outlayer.errors import ErrorCode, OutlayerError


class BlockFeed:
    def __init__(self, base_url: str, timeout_s: float = 30.0) -> None:
        self._base = base_url.rstrip("/")
        self._http = httpx.Client(timeout=timeout_s)

    def last_final_height(self) -> int:
        block = self._get("/v0/last_block/final")
        if block is None:
            raise OutlayerError(ErrorCode.UNAVAILABLE, f"{self._base} has no final block yet")
        return int(block["block"]["header"]["height"])

    def block(self, height: int) -> dict[str, Any] | None:
        """The block at ``height``; None when it is not produced yet (or was skipped)."""
        return self._get(f"/v0/block/{height}")

    def _get(self, path: str) -> dict[str, Any] | None:
        try:
            response = self._http.get(self._base + path)
        except httpx.HTTPError as exc:
            raise OutlayerError(
                ErrorCode.UNAVAILABLE, f"block feed {self._base} did not answer: {exc}"
            ) from None
        if response.status_code == 404:
            return None
        response.raise_for_status()
        body: dict[str, Any] | None = response.json()
        return body
