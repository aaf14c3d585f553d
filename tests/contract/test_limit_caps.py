"""The contract's caps on a request's resource limits: each refused with its own message and
nothing kept (the deposit comes back, no request is stored); at the cap, accepted."""

from __future__ import annotations

import pytest

from localnet.node import NEAR
from tests.contract.conftest import ALICE, Net

CAPS = [
    ("max_memory_mb", 1024, "resource_limits.max_memory_mb is above the cap of 1024"),
    ("max_instructions", 100_000_000_000, "resource_limits.max_instructions is above the cap"),
    ("max_execution_seconds", 60, "resource_limits.max_execution_seconds is above the cap"),
]


@pytest.mark.parametrize(("name", "cap", "message"), CAPS, ids=[c[0] for c in CAPS])
def test_a_limit_over_its_cap_is_refused_and_one_at_it_is_accepted(
    net: Net, name: str, cap: int, message: str
) -> None:
    base = {"max_instructions": 1_000_000, "max_execution_seconds": 5}
    before = net.ln.balance(ALICE)
    over = net.request({"resource_limits": {**base, name: cap + 1}}, deposit=2 * NEAR)
    assert not over.success and over.failure is not None and message in over.failure
    assert net.ln.balance(ALICE) >= before - NEAR // 100  # refunded: only gas is gone
    assert net.view("get_request", {"request_id": 1}) is None  # nothing stored

    at_cap = {**base, name: cap}
    net.request({"resource_limits": at_cap}, deposit=net.cost(at_cap))  # yields: pending
    stored = net.view("get_request", {"request_id": 1})
    assert stored is not None and stored["resource_limits"][name] == cap
