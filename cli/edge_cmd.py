"""``outlayer edge serve``: the HTTPS front door (REST/JSON → gRPC)."""

from __future__ import annotations

from typing import Any

from cli.services import add_service


def register(commands: Any) -> None:
    add_service(
        commands, "edge", "the HTTPS front door",
        "serve REST/JSON over HTTPS, transcoded to gRPC",
    )  # fmt: skip
