"""The indexer's cursor: the last block whose requests are all queued, kept in a file.

Written whole and renamed into place (after fsync), so a crash leaves the old or the new value,
never a torn one. At-least-once delivery plus the coordinator's dedupe key makes each request
become exactly one job across restarts.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


class Cursor:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> int | None:
        if not self.path.is_file():
            return None
        return int(json.loads(self.path.read_text())["last_height"])

    def save(self, height: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_suffix(".tmp")
        with partial.open("w") as handle:
            json.dump({"last_height": height}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        partial.replace(self.path)
