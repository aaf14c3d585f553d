"""``outlayer indexer serve``: follow NEAR blocks into jobs and settle results on chain."""

from __future__ import annotations

import argparse
from typing import Any

from cli.signals import stop_on_signals
from outlayer.config import load_settings
from outlayer.telemetry import configure


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "indexer", help="follow NEAR blocks into jobs, settle results on chain"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="run the indexer until stopped")
    serve.set_defaults(handler=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    from services.indexer import app

    settings = load_settings()
    configure("indexer", settings.telemetry)
    app.serve(settings, stop_on_signals())
    return 0
