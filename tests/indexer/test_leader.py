"""The indexer's leader lease (a PostgreSQL advisory lock) and its shared cursor: one holder at a
time, a holder whose session ends loses the lease at once and a standby takes it, and the
standby continues from the cursor the leader left."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import psycopg
import pytest

from outlayer.errors import OutlayerError
from services.indexer.cursor import PgCursor
from services.indexer.leader import Leader, libpq_url

BOUND_S = 30.0  # failure bound: only a broken lease takes this long


def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + BOUND_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def terminate(pg_url: str, pid: int | None) -> None:
    """Cuts a session as a failed network or a killed host would (the server side ends it)."""
    assert pid is not None
    with psycopg.connect(libpq_url(pg_url), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))


def test_only_one_of_two_leaders_holds_the_lease(pg_url: str) -> None:
    with Leader(pg_url, "localnet:outlayer.localnet") as a, \
            Leader(pg_url, "localnet:outlayer.localnet") as b:  # fmt: skip
        assert a.try_acquire()
        assert not b.try_acquire()
        assert not b.try_acquire()  # a standby asks again and again: still no
        assert a.leading and not b.leading
        assert a.check() and not b.check()
        # Another contract's lease is another lock.
        with Leader(pg_url, "localnet:other.localnet") as c:
            assert c.try_acquire()


def test_killing_the_holders_connection_hands_leadership_over(pg_url: str) -> None:
    name = "localnet:outlayer.localnet"
    with Leader(pg_url, name, check_seconds=0.2) as a, Leader(pg_url, name) as b:
        assert a.try_acquire() and not b.try_acquire()
        terminate(pg_url, a.backend_pid)
        # The holder's watchdog notices by itself: leadership ends without anyone asking.
        assert a.wait_lost(BOUND_S), "the holder did not notice its session was gone"
        assert not a.leading
        eventually(b.try_acquire, "the standby never took the freed lease")
        assert b.leading
        # The former holder is a standby now: it cannot take the lease back while b holds it.
        assert not a.try_acquire()


def test_closing_the_leader_frees_the_lease(pg_url: str) -> None:
    name = "localnet:outlayer.localnet"
    with Leader(pg_url, name) as b:
        a = Leader(pg_url, name)
        assert a.try_acquire()
        a.close()
        assert not a.leading and not a.try_acquire()  # closed: never leads again
        eventually(b.try_acquire, "the lease stayed taken after its holder closed")


def test_the_standby_resumes_from_the_shared_cursor(pg_url: str) -> None:
    name = "localnet:outlayer.localnet"
    with Leader(pg_url, name, check_seconds=0.2) as a, Leader(pg_url, name) as b:
        assert a.try_acquire()
        cursor_a, cursor_b = PgCursor(a), PgCursor(b)
        assert cursor_a.load() is None  # no cursor yet: the indexer starts at start_height
        for height in range(1, 42):
            cursor_a.save(height)
        terminate(pg_url, a.backend_pid)
        assert a.wait_lost(BOUND_S)
        eventually(b.try_acquire, "the standby never took the freed lease")
        assert cursor_b.load() == 41
        cursor_b.save(42)
        # The former leader can neither read nor move the cursor: its writes are fenced.
        with pytest.raises(OutlayerError, match="not the leader"):
            cursor_a.save(7)
        with pytest.raises(OutlayerError, match="not the leader"):
            cursor_a.load()
        assert cursor_b.load() == 42


def test_a_failed_write_ends_leadership_at_once(pg_url: str) -> None:
    """Between two watchdog checks the session dies: the next cursor write fails, and that
    failure alone ends leadership (the indexer stops before its next block)."""
    name = "localnet:outlayer.localnet"
    with Leader(pg_url, name, check_seconds=3600) as a:
        assert a.try_acquire()
        cursor = PgCursor(a)
        cursor.save(1)
        terminate(pg_url, a.backend_pid)
        with pytest.raises(OutlayerError, match="lost the leader's database session"):
            cursor.save(2)
        assert not a.leading


def test_an_unreachable_database_is_standing_by_not_an_error(pg_url: str) -> None:
    with psycopg.connect(libpq_url(pg_url)) as probe:
        port = probe.info.port
    unreachable = pg_url.replace(f":{port}/", ":1/")
    leader = Leader(unreachable, "localnet:outlayer.localnet", connect_timeout_seconds=1)
    assert not leader.try_acquire()
    assert not leader.leading
    leader.close()


def test_a_leader_is_checked_from_its_watchdog_only_while_leading(pg_url: str) -> None:
    name = "localnet:outlayer.localnet"
    with Leader(pg_url, name, check_seconds=0.1) as a:
        assert a.try_acquire()
        threads = [t.name for t in threading.enumerate()]
        assert "indexer-leader-watchdog" in threads
        a.lose()
        eventually(lambda: not any(t.name == "indexer-leader-watchdog"
                                   for t in threading.enumerate()),
                   "the watchdog kept running after leadership ended")  # fmt: skip
        assert a.try_acquire()  # not closed: it may lead again
