"""Rate limits at the edge: a token bucket per client IP and per payment key. A request over
either answers 429 with Retry-After (the seconds until it would pass) and reaches nothing
behind the edge."""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from cachetools import TTLCache

# Buckets of clients not seen for this long are forgotten (a full bucket is the same as none).
IDLE_FORGET_S = 300.0
MAX_TRACKED = 100_000


@dataclass
class _Bucket:
    tokens: float
    at: float


class Buckets:
    """``rate`` requests per second on average, bursts of ``rate * burst_s``; 0: unlimited."""

    def __init__(
        self, rate: float, burst_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._rate = rate
        self._capacity = max(rate * burst_s, 1.0)
        self._clock = clock
        self._buckets: TTLCache[str, _Bucket] = TTLCache(
            maxsize=MAX_TRACKED, ttl=IDLE_FORGET_S, timer=clock
        )
        self._lock = threading.Lock()

    def take(self, who: str) -> float:
        """0 when ``who`` may go now (a token is spent); else the seconds until it may."""
        if self._rate <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(who) or _Bucket(self._capacity, now)
            bucket.tokens = min(self._capacity, bucket.tokens + (now - bucket.at) * self._rate)
            bucket.at = now
            self._buckets[who] = bucket
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self._rate


class RateLimits:
    def __init__(self, per_ip: float, per_key: float, burst_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self._ips = Buckets(per_ip, burst_s, clock)
        self._keys = Buckets(per_key, burst_s, clock)

    def refusal(self, ip: str, payment_key: bytes | None) -> tuple[str, int] | None:
        """None when the request may go; else (why, seconds to wait) for a 429."""
        wait = self._ips.take(ip)
        if wait:
            return f"too many requests from {ip}", math.ceil(wait)
        if payment_key:
            # Keys are bucketed by their hash: no secret is kept in memory longer than needed.
            wait = self._keys.take(hashlib.sha256(payment_key).hexdigest())
            if wait:
                return "too many requests with this payment key", math.ceil(wait)
        return None
