"""Rate limits at the edge: per client IP and per payment key, 429 with Retry-After, nothing
behind the edge reached (so nothing is held or charged), probes never limited."""

from __future__ import annotations

from pathlib import Path

from outlayer.config import Settings
from services.edge.ratelimit import Buckets, RateLimits
from services.executor import Executor
from tests.edge.conftest import ADMIN, edge_stack


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_its_rate() -> None:
    clock = Clock()
    bucket = Buckets(rate=2.0, burst_s=1.5, clock=clock)  # bursts of 3, then 2 a second
    assert [bucket.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take("a") == 0.5  # the next token comes in half a second
    assert bucket.take("b") == 0.0  # another client has its own bucket
    clock.now += 0.5
    assert bucket.take("a") == 0.0
    clock.now += 60
    assert [bucket.take("a") for _ in range(4)][:3] == [0.0, 0.0, 0.0]  # refilled, capped


def test_zero_means_unlimited() -> None:
    bucket = Buckets(rate=0.0, burst_s=1.0, clock=Clock())
    assert all(bucket.take("a") == 0.0 for _ in range(10_000))


def test_the_ip_limit_comes_before_the_key_limit() -> None:
    clock = Clock()
    limits = RateLimits(per_ip=1.0, per_key=100.0, burst_s=1.0, clock=clock)
    assert limits.refusal("10.0.0.1", b"olk_x") is None
    refused = limits.refusal("10.0.0.1", b"olk_x")
    assert refused == ("too many requests from 10.0.0.1", 1)
    limits = RateLimits(per_ip=100.0, per_key=1.0, burst_s=1.0, clock=clock)
    assert limits.refusal("10.0.0.1", b"olk_x") is None
    assert limits.refusal("10.0.0.2", b"olk_x") == ("too many requests with this payment key", 1)
    assert limits.refusal("10.0.0.2", b"olk_y") is None


def test_a_key_over_its_rate_gets_429_and_is_not_charged(
    settings: Settings, executor: Executor, tmp_path: Path
) -> None:
    with edge_stack(settings, executor, tmp_path, rate_per_key=0.01,
                    rate_burst_seconds=100.0) as stack:  # fmt: skip
        key_id, secret = stack.key()
        _, other = stack.key("bob.near")
        assert stack.call(secret, {"input": "one"}).status_code == 200  # the burst: one call
        before = stack.http.get(f"/payment-keys/{key_id}", headers=ADMIN).json()
        refused = stack.call(secret, {"input": "two"})
        assert refused.status_code == 429
        assert refused.json()["code"] == "rate_limited"
        assert "payment key" in refused.json()["message"]
        assert int(refused.headers["retry-after"]) >= 1
        assert stack.call(other, {"input": "bob's"}).status_code == 200  # its own bucket
        assert stack.http.get("/healthz").status_code == 200  # probes are never limited
        after = stack.http.get(f"/payment-keys/{key_id}", headers=ADMIN).json()
        assert after["balance"] == before["balance"]  # nothing held or charged


def test_a_client_over_its_ip_rate_gets_429(
    settings: Settings, executor: Executor, tmp_path: Path
) -> None:
    with edge_stack(settings, executor, tmp_path, rate_per_ip=0.01,
                    rate_burst_seconds=300.0) as stack:  # fmt: skip
        # A burst of 3 requests (the stack's own set-up may have spent some), then refused.
        answers = [stack.http.get("/openapi.json").status_code for _ in range(6)]
        assert answers.count(200) <= 3 and answers[-1] == 429
        assert answers == sorted(answers)  # every 200 before every 429
