"""Guests' storage as the guest sees it: get, set, delete, compare-and-swap, counters, list.

Built on a versioned key-value store (:class:`VersionedStore`): the coordinator's
``StorageService`` for jobs (:class:`CoordinatorStore`), a SQLite file for ``outlayer run``
(:class:`LocalStore`). Values are sealed before they leave the executor (XChaCha20-Poly1305 with
the store's key, which the keystore derives; the key and the space are bound as associated
data, so a value cannot be moved to another key or store unnoticed): the coordinator keeps
ciphertext only. Key names are not encrypted: they order and page the store.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import grpc
import nacl.bindings
import nacl.exceptions
import nacl.utils

from outlayer.errors import (
    ErrorCode,
    OutlayerError,
    error_from_rpc,
    invalid_argument,
    limit_exceeded,
)
from outlayer.limits import STORAGE_MAX_KEY_BYTES as MAX_KEY_BYTES
from outlayer.v1 import storage_pb2 as pb
from outlayer.v1 import storage_pb2_grpc

KEY_BYTES = 32
_NONCE = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
SEAL_OVERHEAD = _NONCE + nacl.bindings.crypto_aead_xchacha20poly1305_ietf_ABYTES
MAX_SWAP_ATTEMPTS = 8  # a counter's read-modify-write, retried when another run wrote between
LIST_PAGE = 100


class VersionedStore(Protocol):
    """Opaque values with versions (1 for a new key, +1 per write); ``expected_version`` (0:
    absent) makes a write conditional, raising ``ErrorCode.CONFLICT`` when it does not hold."""

    def get(self, key: str, per_caller: bool, timeout: float) -> tuple[bytes, int] | None: ...

    def put(self, key: str, value: bytes, per_caller: bool, expected_version: int | None,
            timeout: float) -> int: ...  # fmt: skip

    def delete(self, key: str, per_caller: bool, expected_version: int | None,
               timeout: float) -> bool: ...  # fmt: skip

    def keys(self, prefix: str, cursor: str, per_caller: bool, limit: int,
             timeout: float) -> tuple[list[str], str]: ...  # fmt: skip


KeySource = Callable[[float], bytes]  # the store's sealing key, asked for within a timeout


class GuestStorage:
    """One run's store. ``key_source`` is asked once, at the first call that needs the key (a
    run that never touches storage costs no keystore round trip)."""

    def __init__(
        self,
        store: VersionedStore,
        key_source: KeySource,
        space: str,
        max_value_bytes: int | None = None,
    ) -> None:
        """``max_value_bytes``: the store's cap on a sealed value, checked here when given
        (else by the store itself)."""
        self._store = store
        self._key_source = key_source
        self._key = b""
        self._space = space
        self._max_value_bytes = max_value_bytes

    def get(self, key: str, per_caller: bool, timeout: float) -> bytes | None:
        _check_key(key)
        found = self._store.get(key, per_caller, timeout)
        return None if found is None else self._open(key, per_caller, found[0], timeout)

    def set(self, key: str, value: bytes, per_caller: bool, timeout: float) -> None:
        sealed = self._seal(key, per_caller, value, timeout)
        self._store.put(key, sealed, per_caller, None, timeout)

    def delete(self, key: str, per_caller: bool, timeout: float) -> bool:
        _check_key(key)
        return self._store.delete(key, per_caller, None, timeout)

    def swap(
        self, key: str, expected: bytes | None, value: bytes, per_caller: bool, timeout: float
    ) -> bool:
        """Writes ``value`` only if the key holds ``expected`` (None: only if it is absent)."""
        current = (
            None
            if (found := self._store.get(key, per_caller, timeout)) is None
            else (self._open(key, per_caller, found[0], timeout))
        )
        if current != expected:
            return False
        version = 0 if found is None else found[1]
        sealed = self._seal(key, per_caller, value, timeout)
        try:
            self._store.put(key, sealed, per_caller, version, timeout)
        except OutlayerError as exc:
            if exc.code is ErrorCode.CONFLICT:
                return False  # written meanwhile: what it holds now is not what was expected
            raise
        return True

    def increment(self, key: str, delta: int, per_caller: bool, timeout: float) -> int:
        """Adds ``delta`` to the decimal counter at ``key`` (absent: 0); the new total."""
        for _ in range(MAX_SWAP_ATTEMPTS):
            found = self._store.get(key, per_caller, timeout)
            total = delta
            if found is not None:
                text = self._open(key, per_caller, found[0], timeout)
                try:
                    total += int(text.decode("ascii"))
                except (UnicodeDecodeError, ValueError):
                    raise invalid_argument(f"key {key!r} holds no decimal counter") from None
            if not -(2**63) <= total < 2**63:
                raise invalid_argument(f"the counter {key!r} would leave the 64-bit range")
            sealed = self._seal(key, per_caller, str(total).encode(), timeout)
            try:
                self._store.put(key, sealed, per_caller, 0 if found is None else found[1], timeout)
            except OutlayerError as exc:
                if exc.code is ErrorCode.CONFLICT:
                    continue
                raise
            return total
        raise OutlayerError(
            ErrorCode.CONFLICT,
            f"the counter {key!r} was written by other runs {MAX_SWAP_ATTEMPTS} times in a row",
        )

    def list(self, prefix: str, cursor: str, per_caller: bool, timeout: float) -> bytes:
        keys, next_cursor = self._store.keys(prefix, cursor, per_caller, LIST_PAGE, timeout)
        return json.dumps({"keys": keys, "next_cursor": next_cursor}).encode()

    def _aad(self, key: str, per_caller: bool) -> bytes:
        return f"outlayer-storage-v1\0{self._space}\0{int(per_caller)}\0{key}".encode()

    def _sealing_key(self, timeout: float) -> bytes:
        if not self._key:
            key = self._key_source(timeout)
            if len(key) != KEY_BYTES:
                raise OutlayerError(ErrorCode.INTERNAL, "the keystore gave a storage key that "
                                    f"is {len(key)} bytes, not {KEY_BYTES}")  # fmt: skip
            self._key = key
        return self._key

    def _seal(self, key: str, per_caller: bool, value: bytes, timeout: float) -> bytes:
        _check_key(key)
        most = self._max_value_bytes
        if most is not None and len(value) + SEAL_OVERHEAD > most:
            raise limit_exceeded(
                f"a stored value is at most {most - SEAL_OVERHEAD} bytes, not {len(value)}"
            )
        nonce = nacl.utils.random(_NONCE)
        sealed: bytes = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
            value, self._aad(key, per_caller), nonce, self._sealing_key(timeout)
        )
        return nonce + sealed

    def _open(self, key: str, per_caller: bool, sealed: bytes, timeout: float) -> bytes:
        try:
            value: bytes = nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
                sealed[_NONCE:], self._aad(key, per_caller), sealed[:_NONCE],
                self._sealing_key(timeout),
            )  # fmt: skip
        except (nacl.exceptions.CryptoError, ValueError):
            raise OutlayerError(
                ErrorCode.INTERNAL,
                f"the value of {key!r} does not open with this store's key: it was changed "
                "outside OutLayer, or belongs to another key",
            ) from None
        return value


def _check_key(key: str) -> None:
    if not key or len(key.encode()) > MAX_KEY_BYTES:
        raise invalid_argument(f"a storage key is 1 to {MAX_KEY_BYTES} bytes of UTF-8")


class CoordinatorStore:
    """A job's store in the coordinator (``StorageService``), reached with its lease."""

    def __init__(self, channel: grpc.Channel, token: str, job_id: int) -> None:
        self._stub = storage_pb2_grpc.StorageServiceStub(channel)
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._job_id = job_id

    def _call(self, method: str, request: object, timeout: float) -> object:
        try:
            return getattr(self._stub, method)(request, timeout=timeout, metadata=self._metadata)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc, "the coordinator's storage") from None

    def get(self, key: str, per_caller: bool, timeout: float) -> tuple[bytes, int] | None:
        answer = self._call("Get", pb.StorageGetRequest(job_id=self._job_id, per_caller=per_caller,
                                                        key=key), timeout)  # fmt: skip
        assert isinstance(answer, pb.StorageValue)
        return (answer.value, answer.version) if answer.found else None

    def put(self, key: str, value: bytes, per_caller: bool, expected_version: int | None,
            timeout: float) -> int:  # fmt: skip
        request = pb.StorageSetRequest(job_id=self._job_id, per_caller=per_caller, key=key,
                                       value=value, check_version=expected_version is not None,
                                       expected_version=expected_version or 0)  # fmt: skip
        answer = self._call("Set", request, timeout)
        assert isinstance(answer, pb.StorageValue)
        return answer.version

    def delete(self, key: str, per_caller: bool, expected_version: int | None,
               timeout: float) -> bool:  # fmt: skip
        request = pb.StorageDeleteRequest(job_id=self._job_id, per_caller=per_caller, key=key,
                                          check_version=expected_version is not None,
                                          expected_version=expected_version or 0)  # fmt: skip
        answer = self._call("Delete", request, timeout)
        assert isinstance(answer, pb.StorageDeleteResponse)
        return answer.deleted

    def keys(self, prefix: str, cursor: str, per_caller: bool, limit: int,
             timeout: float) -> tuple[list[str], str]:  # fmt: skip
        request = pb.StorageListRequest(job_id=self._job_id, per_caller=per_caller,
                                        prefix=prefix, cursor=cursor, limit=limit)  # fmt: skip
        answer = self._call("List", request, timeout)
        assert isinstance(answer, pb.StorageListResponse)
        return list(answer.keys), answer.next_cursor


class LocalStore:
    """``outlayer run``'s store: a SQLite file, one space per store name and caller."""

    def __init__(self, path: Path, store: str, caller: str) -> None:
        self._path = path
        self._connection: sqlite3.Connection | None = None  # opened at the first call
        self._store = store
        self._caller = caller
        self._lock = threading.RLock()

    @property
    def _db(self) -> sqlite3.Connection:
        with self._lock:
            if self._connection is None:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
                # A write-ahead log, synced at checkpoints: a development store, where a write
                # need not wait for the disk (3.3 ms per write with a sync each, ~0.3 ms without).
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute(
                    "CREATE TABLE IF NOT EXISTS entries (store TEXT, caller TEXT, key TEXT,"
                    " value BLOB, version INTEGER, PRIMARY KEY (store, caller, key))"
                )
                self._connection = db
            return self._connection

    def _space(self, per_caller: bool) -> tuple[str, str]:
        if per_caller and not self._caller:
            raise invalid_argument("this run has no caller: use the shared space")
        return self._store, self._caller if per_caller else ""

    def get(self, key: str, per_caller: bool, timeout: float) -> tuple[bytes, int] | None:
        row = self._db.execute(
            "SELECT value, version FROM entries WHERE store=? AND caller=? AND key=?",
            (*self._space(per_caller), key),
        ).fetchone()
        return None if row is None else (bytes(row[0]), int(row[1]))

    def put(self, key: str, value: bytes, per_caller: bool, expected_version: int | None,
            timeout: float) -> int:  # fmt: skip
        with self._lock:
            found = self.get(key, per_caller, timeout)
            version = 0 if found is None else found[1]
            if expected_version is not None and expected_version != version:
                raise OutlayerError(ErrorCode.CONFLICT, f"key {key!r} changed: read it again")
            self._db.execute(
                "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?)",
                (*self._space(per_caller), key, value, version + 1),
            )
            return version + 1

    def delete(self, key: str, per_caller: bool, expected_version: int | None,
               timeout: float) -> bool:  # fmt: skip
        with self._lock:
            found = self.get(key, per_caller, timeout)
            if expected_version is not None and expected_version != (found or (b"", 0))[1]:
                raise OutlayerError(ErrorCode.CONFLICT, f"key {key!r} changed: read it again")
            self._db.execute(
                "DELETE FROM entries WHERE store=? AND caller=? AND key=?",
                (*self._space(per_caller), key),
            )
            return found is not None

    def keys(self, prefix: str, cursor: str, per_caller: bool, limit: int,
             timeout: float) -> tuple[list[str], str]:  # fmt: skip
        rows = self._db.execute(
            "SELECT key FROM entries WHERE store=? AND caller=? AND key > ? AND substr(key, 1, ?)"
            " = ? ORDER BY key LIMIT ?",
            (*self._space(per_caller), cursor, len(prefix), prefix, limit + 1),
        ).fetchall()
        keys = [row[0] for row in rows[:limit]]
        return keys, keys[-1] if len(rows) > limit else ""
