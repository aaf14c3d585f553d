"""``outlayer executor serve``: the executor's gRPC service."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from types import FrameType
from typing import Any

from outlayer.config import load_settings


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("executor", help="the executor service")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="serve outlayer.v1.ExecutorService over gRPC")
    serve.add_argument("--listen", metavar="HOST:PORT", help="default: executor.listen setting")
    serve.set_defaults(handler=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    from services.executor import Executor
    from services.executor.service import build_server

    settings = load_settings()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with Executor(settings) as executor:
        server, port = build_server(settings, executor, args.listen)
        server.start()
        host = (args.listen or settings.executor.listen).rsplit(":", 1)[0]
        print(
            f"outlayer executor: serving outlayer.v1.ExecutorService on {host}:{port}",
            file=sys.stderr,
            flush=True,
        )
        stop.wait()
        server.stop(grace=5).wait()
    return 0
