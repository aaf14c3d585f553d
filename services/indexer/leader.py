"""One active indexer and standbys: a PostgreSQL advisory lock as the leader lease.

The lock is a session-level advisory lock (``pg_try_advisory_lock``) on a connection the
:class:`Leader` keeps for nothing else but the shared cursor. PostgreSQL releases it when that
session ends: the holder exits, crashes, or its connection is cut (TCP keepalives bound how
long a silent peer keeps it). So the holder's leadership is exactly "my session is alive":

- a standby tries to take the lock every ``retry_seconds`` and becomes the leader when it gets it;
- the holder checks its session every ``check_seconds`` on a watchdog thread; the first failed
  check (or a failed cursor write, on the same session) ends its leadership at once: the
  indexer stops between two blocks or two resolves and goes back to standing by;
- the cursor is written on the lock's own session, so a former leader whose session is gone
  cannot move it.

Two leaders for a moment (the old one mid-block while its session has already ended server
side) cost nothing: a request queued twice is one job (the coordinator dedupes by origin), and
the contract refuses a second resolve of a request.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from typing import Any

import psycopg
from sqlalchemy.engine import make_url

from outlayer.errors import ErrorCode, OutlayerError

log = logging.getLogger("outlayer.indexer.leader")

# The first key of the two-key advisory lock: the indexer's namespace ("OLIX").
LOCK_NAMESPACE = 0x4F4C4958
# Libpq's TCP keepalives: a holder cut off without a FIN is noticed within about
# idle + interval x count seconds on both sides (PostgreSQL's own settings bound the server's).
KEEPALIVE = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3}


def libpq_url(database_url: str) -> str:
    """``postgresql+psycopg://...`` (SQLAlchemy's spelling, as ``database_url`` has it) as the
    plain ``postgresql://...`` libpq takes."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise OutlayerError(
            ErrorCode.CONFIGURATION,
            f"the indexer's leader lease needs PostgreSQL, not {url.get_backend_name()}",
        )
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def is_postgres(database_url: str) -> bool:
    return make_url(database_url).get_backend_name() == "postgresql"


def lock_key(name: str) -> int:
    """The advisory lock's second key for ``name`` (one lease per contract followed)."""
    digest = hashlib.sha256(name.encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True)


class Leader:
    """The lease for ``name`` on ``database_url``. :meth:`try_acquire` takes it (or not); while
    :attr:`leading`, the session is checked every ``check_seconds``; :meth:`close` lets go."""

    def __init__(
        self,
        database_url: str,
        name: str,
        *,
        check_seconds: float = 1.0,
        connect_timeout_seconds: float = 5.0,
    ) -> None:
        self._url = libpq_url(database_url)
        self.name = name
        self._key = lock_key(name)
        self._check_s = check_seconds
        self._connect_timeout_s = connect_timeout_seconds
        self._lock = threading.RLock()
        self._connection: psycopg.Connection[Any] | None = None
        self._leading = threading.Event()
        self._lost = threading.Event()
        self._closed = threading.Event()
        self._watchdog: threading.Thread | None = None

    # --- the lease --------------------------------------------------------------------------
    @property
    def leading(self) -> bool:
        """True from a successful :meth:`try_acquire` until the session is found gone."""
        return self._leading.is_set()

    @property
    def backend_pid(self) -> int | None:
        """The PostgreSQL backend holding (or trying for) the lock: what an operator (or a test)
        terminates to take leadership away."""
        connection = self._connection
        return None if connection is None or connection.closed else connection.info.backend_pid

    def try_acquire(self) -> bool:
        """Takes the lock if no other session holds it; True when this one leads now. A
        database that cannot be reached is "not leading", never an error."""
        with self._lock:
            if self.leading:
                return True
            if self._closed.is_set():
                return False
            try:
                connection = self._connect()
                row = connection.execute(
                    "SELECT pg_try_advisory_lock(%s, %s)", (LOCK_NAMESPACE, self._key)
                ).fetchone()
            except psycopg.Error as exc:
                log.warning("cannot reach the database for the leader lease: %s", exc)
                self._drop_connection()
                return False
            if not (row and row[0]):
                return False
            self._lost.clear()
            self._leading.set()
            log.info("leader for %s (PostgreSQL backend %s)", self.name, self.backend_pid)
            self._start_watchdog()
            return True

    def check(self) -> bool:
        """Asks PostgreSQL whether this session still holds the lock; a failure ends leadership."""
        with self._lock:
            if not self.leading or self._connection is None:
                return False
            try:
                row = self._connection.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                    " AND pid = pg_backend_pid() AND classid = %s::oid AND objid = %s::oid"
                    " AND objsubid = 2",
                    (LOCK_NAMESPACE, self._key & 0xFFFFFFFF),
                ).fetchone()
                held = bool(row and row[0])
            except psycopg.Error as exc:
                log.warning("lost the database connection (%s): no longer the leader", exc)
                held = False
            if not held:
                self.lose()
            return held

    def lose(self) -> None:
        """Ends leadership now (the session is dropped, so the lock is free for a standby)."""
        with self._lock:
            if self._leading.is_set():
                log.warning("leadership of %s lost", self.name)
            self._leading.clear()
            self._lost.set()
            self._drop_connection()

    def wait_lost(self, timeout_s: float) -> bool:
        return self._lost.wait(timeout_s)

    def execute(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Runs ``query`` on the lease's session, only while leading (a fenced write): a failure
        ends leadership and raises UNAVAILABLE."""
        with self._lock:
            if not self.leading or self._connection is None:
                raise OutlayerError(ErrorCode.UNAVAILABLE, f"not the leader for {self.name}")
            try:
                cursor = self._connection.execute(query, params)
                return list(cursor.fetchall()) if cursor.description else []
            except psycopg.Error as exc:
                self.lose()
                raise OutlayerError(
                    ErrorCode.UNAVAILABLE, f"lost the leader's database session: {exc}"
                ) from exc

    def close(self) -> None:
        """Lets go of the lock (ending the session frees it) and stops the watchdog."""
        self._closed.set()
        self.lose()
        watchdog = self._watchdog
        if watchdog is not None and watchdog is not threading.current_thread():
            watchdog.join(timeout=5)

    def __enter__(self) -> Leader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- internals --------------------------------------------------------------------------
    def _connect(self) -> psycopg.Connection[Any]:
        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(
                self._url,
                autocommit=True,
                connect_timeout=max(1, int(self._connect_timeout_s)),
                # Operators (and tests) see which process holds the lease in pg_stat_activity.
                application_name=f"outlayer-indexer pid={os.getpid()} {self.name}"[:63],
                **KEEPALIVE,  # type: ignore[arg-type]
            )
        return self._connection

    def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error):
                connection.close()

    def _start_watchdog(self) -> None:
        if self._watchdog is not None and self._watchdog.is_alive():
            return
        self._watchdog = threading.Thread(
            target=self._watch, name="indexer-leader-watchdog", daemon=True
        )
        self._watchdog.start()

    def _watch(self) -> None:
        while self.leading and not self._closed.is_set():
            if self._lost.wait(self._check_s):
                return
            if not self.check():
                return
