"""Many callers waiting at once: waits run on the coordinator's pool for waits, so executors'
leases and completions still get through, and every caller gets its result (none ``pending``
because the coordinator's threads were all taken by waiting callers)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from tests.edge.conftest import Stack

CALLERS = 60


def test_sixty_concurrent_slow_calls_are_all_answered(stack: Stack) -> None:
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
