"""``outlayer dev``: development helpers (for now, the development PKI)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from outlayer.config import load_settings


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("dev", help="development helpers")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    certs = actions.add_parser(
        "certs", help="create a development CA and a certificate per service (idempotent)"
    )
    certs.add_argument("--dir", type=Path, metavar="DIR", help="default: the tls.dir setting")
    certs.set_defaults(handler=certs_command)


def certs_command(args: argparse.Namespace) -> int:
    from outlayer.tls import ensure_dev_pki

    directory = args.dir or load_settings().tls.dir
    created = ensure_dev_pki(directory)
    what = ", ".join(created) if created else "nothing (all present)"
    print(f"outlayer dev certs: {directory}: created {what}", file=sys.stderr)
    print("outlayer dev certs: development only: the CA key is on this disk", file=sys.stderr)
    return 0
