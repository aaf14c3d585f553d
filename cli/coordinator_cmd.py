"""``outlayer coordinator serve | add-worker | revoke-worker``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from cli.services import add_service
from outlayer.config import load_settings


def register(commands: Any) -> None:
    actions = add_service(
        commands, "coordinator", "the job queue service",
        "migrate the database and serve over gRPC",
    )  # fmt: skip
    add = actions.add_parser("add-worker", help="register an executor and print its token once")
    add.add_argument("name")
    add.set_defaults(handler=add_worker_command)
    revoke = actions.add_parser("revoke-worker", help="stop a worker's token from working")
    revoke.add_argument("name")
    revoke.set_defaults(handler=revoke_worker_command)


def _engine() -> Any:
    from services.coordinator.app import open_database

    return open_database(load_settings())


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
    from services.coordinator.workers import TRUSTED_FOR_S, revoke_worker

    revoke_worker(_engine(), args.name)
    print(f"outlayer coordinator: worker {args.name} revoked (running coordinators refuse its "
          f"token within {TRUSTED_FOR_S:g} s)", file=sys.stderr)  # fmt: skip
    return 0
