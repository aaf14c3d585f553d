"""The keystore, assembled: attested TLS (TDX, or development mode) around the secrets API."""

from __future__ import annotations

import sys
import threading

from outlayer.config import Settings
from services.keystore.server import build_server


def serve(settings: Settings, listen: str | None, stop: threading.Event) -> None:
    """Serves until ``stop`` is set."""
    server, port = build_server(settings, listen)
    server.start()
    mode = settings.keystore.mode
    if mode == "development":
        print(
            "outlayer keystore: DEVELOPMENT MODE: no TDX; executors must be configured to accept "
            "a development attestation, and the master secret file is not protected",
            file=sys.stderr,
        )
    print(f"outlayer keystore: serving ({mode}) on port {port}", file=sys.stderr, flush=True)
    stop.wait()
    server.stop(grace=2).wait()
