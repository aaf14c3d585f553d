"""``outlayer indexer serve``: follow NEAR blocks into jobs and settle results on chain."""

from __future__ import annotations

from typing import Any

from cli.services import add_service


def register(commands: Any) -> None:
    add_service(
        commands, "indexer", "follow NEAR blocks into jobs, settle results on chain",
        "run the indexer until stopped",
    )  # fmt: skip
