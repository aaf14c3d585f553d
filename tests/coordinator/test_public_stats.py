"""GET /public/stats's figures, for everyone (the dashboard's Status page): the queue by state,
both entry points, and recent throughput (jobs finished in the last minute and hour, counted
among the newest jobs only, so the read stays bounded however long the table grows)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from services.coordinator import public_reads
from services.coordinator.models import Job, JobStatus
from services.coordinator.queue import utcnow


def add_jobs(engine: Engine, *jobs: tuple[str, str, timedelta | None]) -> None:
    now = utcnow()
    with Session(engine) as session:
        for n, (kind, status, ago) in enumerate(jobs):
            session.add(Job(dedupe_key=f"{kind}:{n}:{now.timestamp()}", kind=kind, status=status,
                            spec_json="{}", created_at=now - (ago or timedelta()),
                            completed_at=None if ago is None else now - ago))  # fmt: skip
        session.commit()


def test_stats_count_the_queue_and_recent_throughput(engine: Engine) -> None:
    add_jobs(engine,
             ("near", JobStatus.DONE, timedelta(hours=3)),
             ("https", JobStatus.DONE, timedelta(minutes=20)),
             ("https", JobStatus.FAILED, timedelta(seconds=10)),
             ("near", JobStatus.DONE, timedelta(seconds=5)),
             ("https", JobStatus.QUEUED, None),
             ("near", JobStatus.LEASED, None))  # fmt: skip
    stats = public_reads.stats(engine)
    assert (stats.jobs_queued, stats.jobs_running, stats.jobs_done) == (1, 1, 4)
    assert stats.near_requests == 3
    assert (stats.finished_last_minute, stats.finished_last_hour) == (2, 3)
    assert stats.recent_capped is False


def test_recent_throughput_reads_a_bounded_window(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past RECENT_JOBS jobs, older ones are not read: a busy hour's count is then a floor,
    and says so."""
    monkeypatch.setattr(public_reads, "RECENT_JOBS", 3)
    add_jobs(engine, *[("https", JobStatus.DONE, timedelta(seconds=30))] * 5)
    stats = public_reads.stats(engine)
    assert (stats.finished_last_minute, stats.finished_last_hour) == (3, 3)
    assert stats.recent_capped is True
    assert stats.jobs_done == 5  # the totals still count every job
