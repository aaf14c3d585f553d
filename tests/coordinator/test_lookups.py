"""The hot path's short-lived memory: answers are reused while fresh, failures never are."""

from __future__ import annotations

import time

import pytest

from services.coordinator.lookups import Lookup


def test_an_answer_is_reused_while_fresh_and_loaded_again_after() -> None:
    loads: list[str] = []

    def load(name: str) -> str:
        loads.append(name)
        return name.upper()

    lookup = Lookup(load, ttl_s=0.2)
    assert lookup("a") == "A" and lookup("a") == "A" and lookup("b") == "B"
    assert loads == ["a", "b"]
    time.sleep(0.3)  # past its freshness: asked again
    assert lookup("a") == "A" and loads == ["a", "b", "a"]


def test_forget_drops_every_answer() -> None:
    count = [0]

    def load() -> int:
        count[0] += 1
        return count[0]

    lookup = Lookup(load)
    assert lookup() == 1 and lookup() == 1
    lookup.forget()
    assert lookup() == 2


def test_a_failure_is_not_remembered() -> None:
    calls = [0]

    def load(key: str) -> str:
        calls[0] += 1
        if calls[0] == 1:
            raise KeyError(key)
        return "found"

    lookup = Lookup(load)
    with pytest.raises(KeyError):
        lookup("k")
    assert lookup("k") == "found"
