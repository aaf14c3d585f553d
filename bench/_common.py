"""Helpers shared by the benchmarks."""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from devtools import guestbuild
from outlayer.config import Settings, load_settings


def bench_settings() -> Settings:
    cache = Path(tempfile.mkdtemp(prefix="outlayer-bench-cache-"))
    return load_settings(executor={"module_cache_dir": cache, "pool_size": 2, "max_concurrent": 1})


def guest_bytes(name: str) -> bytes:
    return guestbuild.artifact(name)


def contract_bytes(name: str) -> bytes:
    return guestbuild.artifact(name)


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    """Wall-clock seconds of each of ``repeat`` calls."""
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - began)
    return samples


def summary(samples: list[float]) -> str:
    ordered = sorted(samples)
    p50 = statistics.median(ordered) * 1000
    p90 = ordered[int(len(ordered) * 0.9) - 1] * 1000
    return f"p50 {p50:8.2f} ms   p90 {p90:8.2f} ms   (n={len(ordered)})"
