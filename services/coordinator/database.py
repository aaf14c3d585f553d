"""Engines and migrations for the coordinator's database (SQLite file or PostgreSQL)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, event, exc
from sqlmodel import create_engine

from outlayer.errors import ErrorCode, OutlayerError

MIGRATIONS = Path(__file__).parent / "migrations"
# PostgreSQL connections: enough for the gRPC server's threads (32) and the slow methods' pool,
# so a burst of calls never waits for a connection; checked before use only after idling.
POOL_SIZE = 20
POOL_OVERFLOW = 30
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
    (BEGIN IMMEDIATE), so a lease is atomic there too. WAL lets readers run alongside."""

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA journal_mode=WAL")
        dbapi_connection.execute("PRAGMA busy_timeout=30000")

    @event.listens_for(engine, "begin")
    def on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def relaxed_engine(engine: Engine) -> Engine:
    """A second pool on the same PostgreSQL database whose commits do not wait for the disk
    (``synchronous_commit=off``): for writes whose loss in a database crash only repeats work
    (a lease, a heartbeat: the job is leased again, as after an expired lease), never for
    results, money or submitted jobs. Each such commit saves a WAL flush (~1.6 ms here)."""
    relaxed = create_engine(
        engine.url,
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
        connect_args={"options": "-c synchronous_commit=off"},
        isolation_level="AUTOCOMMIT",
    )
    _ping_idle_connections(relaxed)
    return relaxed


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
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
