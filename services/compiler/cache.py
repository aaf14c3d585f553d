"""The content-addressed module cache and its eviction rules.

Layout (the WASM store's, so one folder serves the compiler and executors on one machine)::

    <dir>/<sha256>.wasm          the module
    <dir>/<sha256>.json          its metadata: source, size, compiled_at, first_seen, last_used,
                                 execution_count
    <dir>/sources/<key>.json     a source (repository at a commit) -> the module's checksum

Writes are atomic (write, then rename) and metadata updates hold a file lock, so the service, an
operator's command and executors may share the folder.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from outlayer.wasmstore import WasmStore
from services.compiler.sources import Source

DAY = 86400.0


def stamp(epoch: float) -> str:
    return datetime.datetime.fromtimestamp(epoch, datetime.UTC).isoformat(timespec="seconds")


def _epoch(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp).timestamp()


@dataclass
class CacheEntry:
    checksum: str
    repo: str
    commit: str
    size_bytes: int
    compiled_at: float
    first_seen: float
    last_used: float
    execution_count: int = 0
    build_seconds: float = 0.0
    # How it was built: language, toolchain, lockfile hash, fetch and build times (BuildInfo).
    build: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["checksum"] = f"sha256:{self.checksum}"
        data["source"] = {"repo": data.pop("repo"), "commit": data.pop("commit")}
        for name in ("compiled_at", "first_seen", "last_used"):
            data[name] = stamp(data[name])
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CacheEntry:
        return cls(
            checksum=str(data["checksum"]).removeprefix("sha256:"),
            repo=data["source"]["repo"],
            commit=data["source"]["commit"],
            size_bytes=int(data["size_bytes"]),
            compiled_at=_epoch(data["compiled_at"]),
            first_seen=_epoch(data["first_seen"]),
            last_used=_epoch(data["last_used"]),
            execution_count=int(data.get("execution_count", 0)),
            build_seconds=float(data.get("build_seconds", 0.0)),
            build=dict(data.get("build") or {}),
        )


class ModuleCache:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._store = WasmStore(directory)
        (directory / "sources").mkdir(parents=True, exist_ok=True)

    # --- reading ------------------------------------------------------------------------------
    def lookup(self, source: Source) -> CacheEntry | None:
        """The module built from ``source`` (a resolved commit), if cached."""
        index = self._index_path(source)
        try:
            checksum = json.loads(index.read_text())["checksum"]
        except (OSError, ValueError, KeyError):
            return None
        entry = self.entry(checksum)
        if entry is None or not self._store.path(entry.checksum).is_file():
            return None
        return entry

    def entry(self, checksum: str) -> CacheEntry | None:
        try:
            return CacheEntry.from_json(json.loads(self._meta_path(checksum).read_text()))
        except (OSError, ValueError, KeyError):
            return None

    def read(self, checksum: str) -> bytes | None:
        """The module's bytes, verified against its checksum."""
        return self._store.get(checksum)

    def entries(self) -> list[CacheEntry]:
        found = []
        for meta in sorted(self.directory.glob("*.json")):
            entry = self.entry(meta.stem)
            if entry is not None and self._store.path(entry.checksum).is_file():
                found.append(entry)
        return found

    # --- writing ------------------------------------------------------------------------------
    def put(
        self,
        source: Source,
        wasm: bytes,
        now: float,
        build_seconds: float,
        build: dict[str, Any] | None = None,
    ) -> CacheEntry:
        checksum = self._store.put(wasm)
        with self._locked():
            entry = self.entry(checksum)
            if entry is None:  # another source may have built the same bytes already
                entry = CacheEntry(checksum, source.repo, source.commit, len(wasm), now, now, now,
                                   0, round(build_seconds, 3), dict(build or {}))  # fmt: skip
                self._write(self._meta_path(checksum), entry.to_json())
            self._write(self._index_path(source), {
                "checksum": checksum, "repo": source.repo, "commit": source.commit,
            })  # fmt: skip
        return entry

    def record_use(self, checksum: str, now: float, executions: int = 1) -> CacheEntry | None:
        with self._locked():
            entry = self.entry(checksum)
            if entry is None:
                return None
            entry.last_used = now
            entry.execution_count += executions
            self._write(self._meta_path(checksum), entry.to_json())
            return entry

    def evict(self, checksum: str) -> bool:
        """Removes a module, its metadata and every source that points at it."""
        checksum = checksum.removeprefix("sha256:")
        path = self._store.path(checksum)  # refuses anything but a checksum
        with self._locked():
            existed = path.is_file()
            for index in (self.directory / "sources").glob("*.json"):
                try:
                    if json.loads(index.read_text()).get("checksum") == checksum:
                        index.unlink()
                except (OSError, ValueError):
                    continue
            path.unlink(missing_ok=True)
            self._meta_path(checksum).unlink(missing_ok=True)
        return existed

    def total_bytes(self) -> int:
        return sum(entry.size_bytes for entry in self.entries())

    # --- internals ----------------------------------------------------------------------------
    def _meta_path(self, checksum: str) -> Path:
        return self._store.path(checksum).with_suffix(".json")

    def _index_path(self, source: Source) -> Path:
        return self.directory / "sources" / f"{source.cache_key}.json"

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.directory / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @staticmethod
    def _write(path: Path, data: dict[str, Any]) -> None:
        partial = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        partial.write_text(json.dumps(data, indent=2))
        partial.replace(path)


@dataclass(frozen=True)
class EvictionPolicy:
    """Retention by use: >100 executions kept; 10-100 kept 90 days unused; <10 kept 30 days
    unused. Above the size or disk thresholds the least recently used go first (the most used
    tier last)."""

    max_bytes: int
    min_free_fraction: float = 0.10
    unused_days: float = 30.0
    mid_tier_days: float = 90.0
    mid_tier_min_executions: int = 10
    keep_above_executions: int = 100


def plan_eviction(
    entries: list[CacheEntry], now: float, policy: EvictionPolicy, disk_free: int, disk_total: int
) -> list[tuple[CacheEntry, str]]:
    """Which entries to evict and why, oldest use first."""
    doomed: list[tuple[CacheEntry, str]] = []
    kept: list[CacheEntry] = []
    for entry in sorted(entries, key=lambda e: e.last_used):
        idle_days = (now - entry.last_used) / DAY
        if entry.execution_count > policy.keep_above_executions:
            kept.append(entry)
        elif entry.execution_count >= policy.mid_tier_min_executions:
            if idle_days > policy.mid_tier_days:
                doomed.append((entry, f"unused for {idle_days:.0f} days (10-100 executions)"))
            else:
                kept.append(entry)
        elif idle_days > policy.unused_days:
            doomed.append((entry, f"unused for {idle_days:.0f} days (<10 executions)"))
        else:
            kept.append(entry)
    total = sum(entry.size_bytes for entry in kept)
    free = disk_free + sum(entry.size_bytes for entry, _ in doomed)
    # Under pressure: least recently used first, and the most used tier only after the rest.
    pressure = sorted(kept, key=lambda e: (e.execution_count > policy.keep_above_executions,
                                          e.last_used))  # fmt: skip
    for entry in pressure:
        over_size = total > policy.max_bytes
        low_disk = disk_total > 0 and free / disk_total < policy.min_free_fraction
        if not (over_size or low_disk):
            break
        doomed.append((entry, "cache over its size limit" if over_size else "disk nearly full"))
        total -= entry.size_bytes
        free += entry.size_bytes
    return doomed


def run_eviction(
    cache: ModuleCache, policy: EvictionPolicy, now: float
) -> list[tuple[CacheEntry, str]]:
    usage = shutil.disk_usage(cache.directory)
    planned = plan_eviction(cache.entries(), now, policy, usage.free, usage.total)
    for entry, _reason in planned:
        cache.evict(entry.checksum)
    return planned
