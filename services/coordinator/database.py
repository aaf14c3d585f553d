"""Engines and migrations for the coordinator's database (SQLite file or PostgreSQL)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event, exc
from sqlmodel import create_engine

from outlayer.errors import ErrorCode, OutlayerError

MIGRATIONS = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x6F75746C61796572  # "outlayer": the advisory lock key migrations take
# PostgreSQL connections per coordinator replica, made as needed: the engine's pool (ORM work:
# billing, projects, settlement) up to 10 + 10, the queue's two statement pools up to
# STATEMENT_POOL each, and two for notifications: at most 42, so two replicas fit PostgreSQL's
# default max_connections (100). More would not help: two cores run a few statements at once.
POOL_SIZE = 10
POOL_OVERFLOW = 10
STATEMENT_POOL = 10
PING_AFTER_IDLE_S = 10.0


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _sqlite_write_transactions(engine)
        return engine
    if url.startswith("postgresql"):
        engine = create_engine(url, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)
        _ping_idle_connections(engine)
        return engine
    raise OutlayerError(
        ErrorCode.CONFIGURATION,
        f"database_url {url!r} is neither sqlite:///PATH nor postgresql+psycopg://...",
    )


def _sqlite_write_transactions(engine: Engine) -> None:
    """SQLite has no SELECT ... FOR UPDATE: every transaction takes the write lock up front
    (BEGIN IMMEDIATE), so a lease is atomic there too. WAL lets readers run alongside; a
    single statement that only reads runs in autocommit, without the lock."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA busy_timeout=30000")

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return  # a single read on its own (see read_engine): no write lock
        connection.exec_driver_sql("BEGIN IMMEDIATE")


class StatementConnections:
    """A few autocommit psycopg connections for single statements on the queue's hot path,
    outside SQLAlchemy's pool: its checkout and return cost as much as the statement itself.
    Statements are prepared on a connection's first use of them (server-side plans); a
    connection idle for a while is pinged before use, as the engines' are.

    ``durable=False``: commits do not wait for the disk (``synchronous_commit=off``), for
    writes whose loss in a database crash only repeats work (a lease, a heartbeat: the job is
    leased again, as after an expired lease), never for results, money or submitted jobs. Each
    such commit saves a WAL flush (~1.6 ms here)."""

    def __init__(self, url: str, *, durable: bool = True, size: int = STATEMENT_POOL) -> None:
        self._conninfo = with_settings(url, {} if durable else ASYNC_COMMIT)
        self._idle: list[tuple[psycopg.Connection[Any], float]] = []  # (connection, idle since)
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(size)
        self._closed = False

    def execute(self, sql: str, params: dict[str, Any]) -> tuple[list[Any], int]:
        """Runs one statement (its own transaction): (rows it returned, rows it touched)."""
        with self._slots:
            connection = self._take()
            try:
                cursor = connection.execute(sql, params)
                rows = cursor.fetchall() if cursor.description is not None else []
                answer = rows, cursor.rowcount
            except BaseException:
                connection.close()  # broken, or in an unknown state: the next use connects anew
                raise
            with self._lock:
                if self._closed:
                    connection.close()
                else:
                    self._idle.append((connection, time.monotonic()))
            return answer

    def _take(self) -> psycopg.Connection[Any]:
        while True:
            with self._lock:
                if not self._idle:
                    break
                connection, since = self._idle.pop()
            if connection.closed:
                continue
            if time.monotonic() - since < PING_AFTER_IDLE_S:
                return connection
            try:
                connection.execute("SELECT 1")
                return connection
            except psycopg.Error:  # died while idle (say, PostgreSQL restarted)
                connection.close()
        return psycopg.connect(self._conninfo, autocommit=True, prepare_threshold=0)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection, _since in idle:
            connection.close()


ASYNC_COMMIT = {"synchronous_commit": "off"}


def with_settings(url: str, settings: dict[str, str]) -> str:
    """A libpq connection string for ``url`` with these server settings added to the options
    the URL itself asks for."""
    if not settings:
        return url
    asked = psycopg.conninfo.conninfo_to_dict(url).get("options") or ""
    added = " ".join(f"-c {name}={value}" for name, value in settings.items())
    return psycopg.conninfo.make_conninfo(url, options=f"{asked} {added}".strip())


def _ping_idle_connections(engine: Engine) -> None:
    """``pool_pre_ping`` costs a round trip on every checkout (a third of a lease's); a
    connection that was just used is alive, so only one idle for a while is pinged (a dead one
    is replaced before use, as pre-ping would: say, after PostgreSQL restarted)."""

    @event.listens_for(engine, "checkin")
    def on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_S:
            return
        try:
            dbapi_connection.execute("SELECT 1")
            dbapi_connection.rollback()
        except Exception as error:  # the pool retries with a new connection
            raise exc.DisconnectionError(f"idle connection is gone: {error}") from error


def migrate(engine: Engine) -> None:
    """Brings the schema to the newest migration (safe to run at every start)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Replicas starting together on an empty database take turns (the lock ends with
            # this transaction): the first creates the schema, the others find it there.
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
