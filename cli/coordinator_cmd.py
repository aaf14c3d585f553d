"""``outlayer coordinator serve | add-worker | revoke-worker``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from outlayer.cli.signals import stop_on_signals
from outlayer.config import load_settings
from outlayer.telemetry import configure


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "coordinator", help="the job queue service"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="migrate the database and serve over gRPC")
    serve.add_argument("--listen", metavar="HOST:PORT", help="default: coordinator.listen")
    serve.set_defaults(handler=serve_command)
    add = actions.add_parser("add-worker", help="register an executor and print its token once")
    add.add_argument("name")
    add.set_defaults(handler=add_worker_command)
    revoke = actions.add_parser("revoke-worker", help="stop a worker's token from working")
    revoke.add_argument("name")
    revoke.set_defaults(handler=revoke_worker_command)


def _engine() -> Any:
    from services.coordinator.database import make_engine, migrate

    engine = make_engine(load_settings().database_url)
    migrate(engine)
    return engine


def serve_command(args: argparse.Namespace) -> int:
    from services.coordinator.admin import build_admin_server
    from services.coordinator.service import build_server

    settings = load_settings()
    configure("coordinator", settings.telemetry)
    engine = _engine()
    server, port = build_server(settings, engine, args.listen)
    server.start()
    admin, _ = build_admin_server(settings, engine)
    admin.start()
    sweeper = hold_sweeper(settings, engine).start()
    host = (args.listen or settings.coordinator.listen).rsplit(":", 1)[0]
    print(f"outlayer coordinator: serving on {host}:{port}", file=sys.stderr, flush=True)
    stop = stop_on_signals()
    stop.wait()
    sweeper.stop()
    server.stop(grace=5).wait()
    admin.stop(grace=1).wait()
    return 0


def hold_sweeper(settings: Any, engine: Any) -> Any:
    """Settles holds of HTTPS calls nobody came back for (see billing.HoldSweeper), checking
    once a lease."""
    from services.coordinator.billing import Billing, HoldSweeper
    from services.coordinator.queue import JobQueue

    coordinator = settings.coordinator
    queue = JobQueue(engine, lease_seconds=coordinator.lease_seconds)
    return HoldSweeper(
        Billing(engine, queue, coordinator),
        lease_seconds=coordinator.lease_seconds,
        interval_s=coordinator.lease_seconds,
    )


def add_worker_command(args: argparse.Namespace) -> int:
    from services.coordinator.workers import register_worker

    token = register_worker(_engine(), args.name)
    print(token)
    print(
        f"outlayer coordinator: worker {args.name} registered; the token above is shown once. "
        "Give it to the executor (executor.worker_token_file).",
        file=sys.stderr,
    )
    return 0


def revoke_worker_command(args: argparse.Namespace) -> int:
    from services.coordinator.workers import revoke_worker

    revoke_worker(_engine(), args.name)
    print(f"outlayer coordinator: worker {args.name} revoked", file=sys.stderr)
    return 0
