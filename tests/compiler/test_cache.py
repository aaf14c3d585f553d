"""The content-addressed cache: layout, metadata, the source index, and eviction by the rules."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.compiler.cache import (
    DAY,
    CacheEntry,
    EvictionPolicy,
    ModuleCache,
    plan_eviction,
    run_eviction,
)
from services.compiler.sources import Source

NOW = 1_800_000_000.0
REPO = "https://github.com/near/outlayer"


def source(n: int) -> Source:
    return Source(REPO, f"{n:040x}")


def test_a_module_is_stored_by_checksum_with_its_metadata(tmp_path: Path) -> None:
    cache = ModuleCache(tmp_path)
    wasm = b"\0asm\1\0\0\0"
    entry = cache.put(source(1), wasm, NOW, 1.5)
    checksum = hashlib.sha256(wasm).hexdigest()
    assert entry.checksum == checksum
    assert (tmp_path / f"{checksum}.wasm").read_bytes() == wasm
    meta = json.loads((tmp_path / f"{checksum}.json").read_text())
    assert meta["checksum"] == f"sha256:{checksum}"
    assert meta["source"] == {"repo": REPO, "commit": f"{1:040x}"}
    assert meta["size_bytes"] == len(wasm) and meta["execution_count"] == 0
    assert {"compiled_at", "first_seen", "last_used"} <= meta.keys()
    assert cache.lookup(source(1)) == entry
    assert cache.lookup(source(2)) is None


def test_uses_are_counted_and_dated(tmp_path: Path) -> None:
    cache = ModuleCache(tmp_path)
    entry = cache.put(source(1), b"module", NOW, 0.1)
    cache.record_use(entry.checksum, NOW + 50)
    cache.record_use(entry.checksum, NOW + 99)
    again = cache.lookup(source(1))
    assert again is not None
    assert again.execution_count == 2 and again.last_used == NOW + 99
    assert again.first_seen == NOW


def test_two_sources_with_the_same_bytes_share_one_module(tmp_path: Path) -> None:
    cache = ModuleCache(tmp_path)
    first = cache.put(source(1), b"same", NOW, 0.1)
    second = cache.put(source(2), b"same", NOW + 5, 0.1)
    assert first.checksum == second.checksum
    assert len(list(tmp_path.glob("*.wasm"))) == 1
    assert cache.evict(first.checksum)
    assert cache.lookup(source(1)) is None and cache.lookup(source(2)) is None
    assert not cache.evict(first.checksum)  # already gone


def test_a_damaged_module_is_never_served(tmp_path: Path) -> None:
    cache = ModuleCache(tmp_path)
    entry = cache.put(source(1), b"good bytes", NOW, 0.1)
    (tmp_path / f"{entry.checksum}.wasm").write_bytes(b"evil bytes")
    assert cache.read(entry.checksum) is None


def entry(n: int, executions: int, idle_days: float, size: int = 100) -> CacheEntry:
    used = NOW - idle_days * DAY
    return CacheEntry(f"{n:064x}", REPO, f"{n:040x}", size, used, used, used, executions)


POLICY = EvictionPolicy(max_bytes=10**9, min_free_fraction=0.0)


@pytest.mark.parametrize(
    ("executions", "idle_days", "evicted"),
    [
        (0, 29, False),
        (9, 31, True),  # fewer than 10 executions: kept 30 days
        (10, 31, False),
        (100, 89, False),
        (50, 91, True),  # 10-100 executions: kept 90 days
        (101, 400, False),  # more than 100 executions: kept
    ],
)
def test_retention_tiers(executions: int, idle_days: float, evicted: bool) -> None:
    planned = plan_eviction([entry(1, executions, idle_days)], NOW, POLICY, 10**12, 10**12)
    assert bool(planned) is evicted


def test_over_the_size_limit_the_least_recently_used_go_first_and_the_popular_last() -> None:
    entries = [
        entry(1, 500, idle_days=20),  # popular, and the oldest use
        entry(2, 1, idle_days=10),
        entry(3, 1, idle_days=5),
        entry(4, 1, idle_days=1),
    ]
    policy = EvictionPolicy(max_bytes=250, min_free_fraction=0.0)
    planned = [e.checksum for e, reason in plan_eviction(entries, NOW, policy, 10**12, 10**12)]
    assert planned == [entries[1].checksum, entries[2].checksum]  # 400 -> 200 bytes
    squeezed = EvictionPolicy(max_bytes=50, min_free_fraction=0.0)
    everything = [e.checksum for e, _ in plan_eviction(entries, NOW, squeezed, 10**12, 10**12)]
    assert everything[-1] == entries[0].checksum  # the popular one only after all others


def test_low_disk_space_evicts_until_enough_is_free() -> None:
    entries = [entry(1, 1, idle_days=3, size=300), entry(2, 1, idle_days=2, size=300)]
    policy = EvictionPolicy(max_bytes=10**9, min_free_fraction=0.10)
    # 1000 bytes of disk with 50 free: evicting the older module frees enough (350 >= 100).
    planned = plan_eviction(entries, NOW, policy, disk_free=50, disk_total=1000)
    assert [(e.checksum, reason) for e, reason in planned] == [
        (entries[0].checksum, "disk nearly full")
    ]


def test_a_sweep_removes_files_and_sources(tmp_path: Path) -> None:
    cache = ModuleCache(tmp_path)
    stale = cache.put(source(1), b"stale", NOW - 40 * DAY, 0.1)
    fresh = cache.put(source(2), b"fresh", NOW, 0.1)
    swept = run_eviction(cache, POLICY, NOW)
    assert [e.checksum for e, _ in swept] == [stale.checksum]
    assert not (tmp_path / f"{stale.checksum}.wasm").exists()
    assert cache.lookup(source(1)) is None and cache.lookup(source(2)) == fresh


def outlayer(*args: str, cache_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OUTLAYER_COMPILER__CACHE_DIR": str(cache_dir)}
    return subprocess.run([sys.executable, "-m", "cli.main", *args], env=env,
                          capture_output=True, text=True, timeout=60, check=False)  # fmt: skip


def test_operators_list_and_evict_with_the_cache_command(tmp_path: Path) -> None:
    cache = ModuleCache(tmp_path)
    kept = cache.put(source(1), b"one", NOW, 0.1)
    doomed = cache.put(source(2), b"two", NOW, 0.1)
    listed = outlayer("cache", "list", "--local", cache_dir=tmp_path)
    assert listed.returncode == 0, listed.stderr
    shown = json.loads(listed.stdout)
    assert {e["checksum"] for e in shown["entries"]} == {
        f"sha256:{kept.checksum}",
        f"sha256:{doomed.checksum}",
    }
    assert shown["total_bytes"] == 6
    evicted = outlayer("cache", "evict", f"sha256:{doomed.checksum}", "--local", cache_dir=tmp_path)
    assert evicted.returncode == 0 and json.loads(evicted.stdout)["evicted"] is True
    assert cache.lookup(source(2)) is None and cache.lookup(source(1)) == kept
    again = outlayer("cache", "evict", doomed.checksum, "--local", cache_dir=tmp_path)
    assert again.returncode == 2 and "was not in the cache" in again.stderr
    bad = outlayer("cache", "evict", "not-a-checksum", "--local", cache_dir=tmp_path)
    assert bad.returncode == 2 and "is not a module checksum" in bad.stderr
