"""Short-lived memory of rows the HTTPS hot path reads on every call and that rarely change
(a payment key's identity, a project's current version): each call would otherwise pay a
database round trip for each. Money is never answered from here: a call's hold and charge
lock the key's row in the database."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from cachetools import TTLCache

T = TypeVar("T")
# How stale an answer may be: a change made on another coordinator replica (a new project
# version) is seen within this; one made on this replica at once (it invalidates).
FRESH_FOR_S = 2.0


class Lookup(Generic[T]):
    def __init__(self, load: Callable[..., T], *, ttl_s: float = FRESH_FOR_S, size: int = 4096):
        self._load = load
        self._cache: TTLCache[Hashable, T] = TTLCache(maxsize=size, ttl=ttl_s)
        self._lock = threading.Lock()

    def __call__(self, *key: Hashable) -> T:
        with self._lock:
            found = self._cache.get(key)
        if found is not None:
            return found
        value = self._load(*key)  # raises (not found, ...) are not remembered
        with self._lock:
            self._cache[key] = value
        return value

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()
