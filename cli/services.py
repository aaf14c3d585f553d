"""``outlayer <service> serve``, the same for every service: load the settings, start
telemetry, and run the service's own assembly (``services/<name>/app.py``) until a signal."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

from cli.signals import stop_on_signals
from outlayer.config import load_settings
from outlayer.telemetry import configure


def add_service(commands: Any, name: str, about: str, serving: str) -> Any:
    """The ``<name>`` command with its ``serve`` action; returns the actions, for more."""
    parser: argparse.ArgumentParser = commands.add_parser(name, help=about)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help=serving)
    serve.add_argument("--listen", metavar="HOST:PORT", help=f"default: {name}.listen")
    serve.set_defaults(handler=lambda args: serve_service(name, args))
    return actions


def serve_service(name: str, args: argparse.Namespace) -> int:
    app = importlib.import_module(f"services.{name}.app")
    settings = load_settings()
    configure(name, settings.telemetry)
    app.serve(settings, args.listen, stop_on_signals())
    return 0
