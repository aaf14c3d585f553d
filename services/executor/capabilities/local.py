"""A guest's capabilities under ``outlayer run``: the same host functions, served locally.

Storage is a SQLite file and randomness is proven with a development key, both in a folder of
the user's (``--data-dir``): a guest behaves as it will on the platform, but what it stores
stays on this machine and its randomness is labelled "local development key" (it verifies
against that key, not the keystore's). NEAR reads and fetch are the platform's own code.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from pathlib import Path

from outlayer.config import Settings
from outlayer.near.rpc import NearRpc
from services.executor.capabilities.chain import ChainReader
from services.executor.capabilities.fetch import Fetcher
from services.executor.capabilities.host_calls import GuestServices
from services.executor.capabilities.manifest import declared_fetch_hosts
from services.executor.capabilities.randomness import LocalRandomness
from services.executor.capabilities.storage import GuestStorage, LocalStore

KEY_FILE = "guest-development.key"


def local_services(
    settings: Settings, wasm: bytes, *, data_dir: Path, store: str, caller: str, origin_key: str
) -> GuestServices:
    guest = settings.executor.guest
    fetch, why = fetch_for(wasm, settings)
    return GuestServices(
        storage=GuestStorage(
            LocalStore(data_dir / "storage.sqlite3", store, caller),
            lambda _timeout: _derive(development_key(data_dir), "storage", store),
            store,
            settings.coordinator.storage_max_value_bytes,
        ),
        randomness=LocalRandomness(lambda: _derive(development_key(data_dir), "vrf"), origin_key),
        chain=ChainReader(NearRpc(guest.chain_rpc, guest.chain_timeout_seconds))
        if guest.chain_rpc
        else None,
        fetch=fetch,
        why_off={"fetch": why} if why else {},
    )


def fetch_for(wasm: bytes, settings: Settings) -> tuple[Fetcher | None, str]:
    """The module's fetcher when it declares hosts and the platform allows fetches; else None
    and why not ("" for the usual reason: it declares none)."""
    guest = settings.executor.guest
    try:
        hosts = declared_fetch_hosts(wasm)
    except ValueError as exc:  # ManifestError, bad UTF-8 or JSON
        return None, f"the module's outlayer.fetch section is malformed: {exc}"
    if hosts and not guest.fetch_enabled:
        return None, "this platform serves no outbound HTTPS (executor.guest.fetch_enabled)"
    return (Fetcher(hosts, guest), "") if hosts else (None, "")


def development_key(data_dir: Path) -> bytes:
    """This machine's development key (made once, at the first run that needs it; readable
    by its owner only)."""
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(os.urandom(32))
    return path.read_bytes()


def _derive(key: bytes, purpose: str, *parts: str) -> bytes:
    message = "\0".join(("outlayer-local", purpose, *parts)).encode()
    return hmac.new(key, message, hashlib.sha256).digest()
