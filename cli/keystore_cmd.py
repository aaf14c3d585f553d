"""``outlayer keystore serve``: the secrets service (attested in TDX, or in development mode)."""

from __future__ import annotations

import argparse
from typing import Any

from cli.signals import stop_on_signals
from outlayer.config import load_settings
from outlayer.telemetry import configure


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "keystore", help="the secrets service (the only one that can decrypt)"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="serve over attested TLS until stopped")
    serve.add_argument("--listen", metavar="HOST:PORT", help="default: keystore.listen")
    serve.set_defaults(handler=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    from services.keystore import app

    settings = load_settings()
    configure("keystore", settings.telemetry)
    app.serve(settings, args.listen, stop_on_signals())
    return 0
