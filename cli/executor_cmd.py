"""``outlayer executor serve``: the executor's gRPC service."""

from __future__ import annotations

import argparse
from typing import Any

from cli.signals import stop_on_signals
from outlayer.config import load_settings
from outlayer.telemetry import configure


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("executor", help="the executor service")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="serve outlayer.v1.ExecutorService over gRPC")
    serve.add_argument("--listen", metavar="HOST:PORT", help="default: executor.listen setting")
    serve.set_defaults(handler=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    from services.executor import app

    settings = load_settings()
    configure("executor", settings.telemetry)
    app.serve(settings, args.listen, stop_on_signals())
    return 0
