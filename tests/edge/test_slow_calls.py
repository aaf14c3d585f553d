"""Many callers waiting at once: waits run on the coordinator's pool for waits, so executors'
leases and completions still get through, and every caller gets its result (none ``pending``
because the coordinator's threads were all taken by waiting callers)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from outlayer.config import EdgeSettings, Settings
from services.executor import Executor
from tests.edge.conftest import Stack, edge_stack

CALLERS = 60


@pytest.fixture
def patient_stack(settings: Settings, executor: Executor, tmp_path: Path) -> Iterator[Stack]:
    """The edge's default header deadline, not the tests' 1 s: sixty client threads in this
    process, which also runs the edge and the coordinator, may each take over a second between
    connecting and sending on a loaded machine."""
    default = EdgeSettings().header_timeout_seconds
    with edge_stack(settings, executor, tmp_path, header_timeout_seconds=default) as running:
        yield running


def test_sixty_concurrent_slow_calls_are_all_answered(patient_stack: Stack) -> None:
    stack = patient_stack
    _, secret = stack.key(balance=10**27)

    def call(n: int) -> tuple[int, str]:
        with httpx.Client(base_url=stack.base, timeout=120) as own:
            response = own.post(
                "/call/dev.near/sleepy",
                json={"input": "\u0002", "wait_seconds": 60},  # the guest sleeps 200 ms
                headers={"X-Payment-Key": secret},
            )
        return response.status_code, response.json().get("status", response.text)

    with ThreadPoolExecutor(CALLERS) as callers:
        answers = list(callers.map(call, range(CALLERS)))
    assert answers == [(200, "done")] * CALLERS


def test_a_pending_call_is_long_polled_until_its_result(stack: Stack) -> None:
    _, secret = stack.key()
    paid = {"X-Payment-Key": secret}
    first = stack.http.post(
        "/call/dev.near/sleepy", headers=paid, json={"input": "\u001e", "wait_seconds": 0.01}
    )  # the guest sleeps 3 s
    assert first.status_code == 200 and first.json()["status"] == "pending", first.text
    call_id = first.json()["call_id"]
    at_once = stack.http.get(f"/calls/{call_id}", headers=paid)
    assert at_once.json()["status"] == "pending"  # no wait asked: the answer now
    waited = stack.http.get(f"/calls/{call_id}", params={"wait_seconds": "30"}, headers=paid)
    assert waited.status_code == 200 and waited.json()["status"] == "done", waited.text
    assert waited.json()["result"]["status"] == "success"
    for bad in ("NaN", "-1", "Infinity", "soon"):
        refused = stack.http.get(f"/calls/{call_id}", params={"wait_seconds": bad}, headers=paid)
        assert refused.status_code == 400, (bad, refused.text)
