"""``outlayer keystore serve``: the secrets service (attested in TDX, or in development mode)."""

from __future__ import annotations

from typing import Any

from cli.services import add_service


def register(commands: Any) -> None:
    add_service(
        commands, "keystore", "the secrets service (the only one that can decrypt)",
        "serve over attested TLS until stopped",
    )  # fmt: skip
