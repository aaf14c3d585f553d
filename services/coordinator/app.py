"""The coordinator, assembled: migrate the database, serve the mesh and public APIs and the
loopback admin API, and sweep the holds of HTTPS calls nobody came back for."""

from __future__ import annotations

import sys
import threading

from sqlalchemy import Engine

from outlayer.config import Settings
from services.coordinator.admin import build_admin_server
from services.coordinator.billing import Billing, HoldSweeper
from services.coordinator.database import make_engine, migrate
from services.coordinator.queue import JobQueue
from services.coordinator.service import build_server


def open_database(settings: Settings) -> Engine:
    """The coordinator's database, migrated to this version's schema."""
    engine = make_engine(settings.database_url)
    migrate(engine)
    return engine


def serve(settings: Settings, listen: str | None, stop: threading.Event) -> None:
    """Serves until ``stop`` is set."""
    engine = open_database(settings)
    server, port = build_server(settings, engine, listen)
    server.start()
    admin, _ = build_admin_server(settings, engine)
    admin.start()
    sweeper = hold_sweeper(settings, engine).start()
    host = (listen or settings.coordinator.listen).rsplit(":", 1)[0]
    print(f"outlayer coordinator: serving on {host}:{port}", file=sys.stderr, flush=True)
    stop.wait()
    sweeper.stop()
    server.stop(grace=5).wait()
    admin.stop(grace=1).wait()


def hold_sweeper(settings: Settings, engine: Engine) -> HoldSweeper:
    """Settles holds of HTTPS calls nobody came back for (see billing.HoldSweeper), checking
    once a lease."""
    coordinator = settings.coordinator
    queue = JobQueue(engine, lease_seconds=coordinator.lease_seconds)
    return HoldSweeper(
        Billing(engine, queue, coordinator),
        lease_seconds=coordinator.lease_seconds,
        interval_s=coordinator.lease_seconds,
    )
