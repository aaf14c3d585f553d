"""``outlayer keystore serve``: the secrets service (attested in TDX, or in development mode)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from outlayer.cli.signals import stop_on_signals
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
    from services.keystore.server import build_server

    settings = load_settings()
    configure("keystore", settings.telemetry)
    server, port = build_server(settings, args.listen)
    server.start()
    mode = settings.keystore.mode
    if mode == "development":
        print(
            "outlayer keystore: DEVELOPMENT MODE: no TDX; executors must be configured to accept "
            "a development attestation, and the master secret file is not protected",
            file=sys.stderr,
        )
    print(f"outlayer keystore: serving ({mode}) on port {port}", file=sys.stderr, flush=True)
    stop_on_signals().wait()
    server.stop(grace=2).wait()
    return 0
