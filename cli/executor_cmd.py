"""``outlayer executor serve``: the executor's gRPC service."""

from __future__ import annotations

from typing import Any

from cli.services import add_service


def register(commands: Any) -> None:
    add_service(
        commands, "executor", "the executor service",
        "serve outlayer.v1.ExecutorService over gRPC",
    )  # fmt: skip
