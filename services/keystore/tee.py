"""Where the keystore's master secret and attestation come from.

In TDX, both come from the dstack guest agent (PyPI ``dstack-sdk``): the master secret is a key
derived from the enclave's identity (it never leaves the VM) and quotes are the CPU's. In
development, the master secret is a local file and the attestation a labelled statement that
clients refuse unless told to accept it.
"""

from __future__ import annotations

import asyncio
import inspect
from pathlib import Path
from typing import Any, Protocol

import dcap_qvl
import httpx
from dstack_sdk import DstackClient

from outlayer.attested import development_statement
from outlayer.config import KeystoreSettings
from outlayer.errors import ErrorCode, OutlayerError
from services.keystore.keys import MASTER_BYTES, development_master

MASTER_KEY_PATH = "outlayer/keystore/master/v1"


class Tee(Protocol):
    mode: str

    def master_secret(self) -> bytes: ...

    def attest(self, report_data: bytes) -> tuple[bytes, str]:
        """(quote, collateral JSON) binding ``report_data`` (64 bytes)."""
        ...


class DevelopmentTee:
    mode = "development"

    def __init__(self, master_file: Path) -> None:
        self._master_file = master_file

    def master_secret(self) -> bytes:
        return development_master(self._master_file)

    def attest(self, report_data: bytes) -> tuple[bytes, str]:
        return development_statement(report_data), ""


class DstackTee:
    """A TDX VM's guest agent (a unix socket, or an http:// URL for a simulator)."""

    mode = "tdx"

    def __init__(self, endpoint: str, *, collateral_file: Path | None, pccs_url: str) -> None:
        self._client = DstackClient(endpoint or None, timeout=30)
        self._endpoint = endpoint or "the default dstack socket"
        self._collateral_file = collateral_file
        self._pccs_url = pccs_url

    def master_secret(self) -> bytes:
        try:
            key: bytes = self._client.get_key(
                MASTER_KEY_PATH, "outlayer keystore master"
            ).decode_key()
        except (httpx.HTTPError, ValueError) as exc:
            raise self._unavailable(exc) from None
        if len(key) < MASTER_BYTES:
            raise OutlayerError(ErrorCode.INTERNAL, "the dstack key is shorter than 32 bytes")
        return key[:MASTER_BYTES]

    def attest(self, report_data: bytes) -> tuple[bytes, str]:
        try:
            quote: bytes = self._client.get_quote(report_data).decode_quote()
        except (httpx.HTTPError, ValueError) as exc:
            raise self._unavailable(exc) from None
        return quote, self._collateral(quote)

    def _collateral(self, quote: bytes) -> str:
        if self._collateral_file is not None:
            return self._collateral_file.read_text()
        try:
            pending = dcap_qvl.get_collateral(self._pccs_url, quote)
            collateral = asyncio.run(_awaited(pending)) if inspect.isawaitable(pending) else pending
        except Exception as exc:  # dcap-qvl raises its own errors for PCCS failures
            raise OutlayerError(
                ErrorCode.UNAVAILABLE,
                f"cannot fetch Intel collateral from {self._pccs_url}: {exc}; set "
                "keystore.collateral_file or keystore.pccs_url",
            ) from None
        return str(collateral.to_json())

    def _unavailable(self, exc: Exception) -> OutlayerError:
        return OutlayerError(
            ErrorCode.UNAVAILABLE,
            f"the dstack guest agent at {self._endpoint} did not answer ({exc}); a TDX keystore "
            "runs inside a dstack VM (keystore.mode = development outside one)",
        )


async def _awaited(pending: Any) -> Any:
    return await pending


def tee_for(settings: KeystoreSettings) -> Tee:
    if settings.mode == "tdx":
        return DstackTee(
            settings.dstack_endpoint,
            collateral_file=settings.collateral_file,
            pccs_url=settings.pccs_url,
        )
    return DevelopmentTee(settings.master_key_file)
