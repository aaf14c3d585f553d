"""``outlayer edge serve``: the HTTPS front door (REST/JSON → gRPC)."""

from __future__ import annotations

import argparse
from typing import Any

from cli.signals import stop_on_signals
from outlayer.config import load_settings
from outlayer.telemetry import configure


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("edge", help="the HTTPS front door")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="serve REST/JSON over HTTPS, transcoded to gRPC")
    serve.add_argument("--listen", metavar="HOST:PORT", help="default: edge.listen")
    serve.set_defaults(handler=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    from services.edge import app

    settings = load_settings()
    configure("edge", settings.telemetry)
    app.serve(settings, args.listen, stop_on_signals())
    return 0
