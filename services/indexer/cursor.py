"""The indexer's cursor: the last block whose requests are all queued.

Two stores, one interface (:class:`CursorStore`):

- :class:`Cursor`, a file (SQLite / development, one indexer): written whole and renamed into
  place (after fsync), so a crash leaves the old or the new value, never a torn one.
- :class:`PgCursor`, a row in PostgreSQL (several indexers, one leading): read and written on
  the leader lease's own session (:class:`services.indexer.leader.Leader`), so a standby that
  takes over continues from where the leader stopped, and a former leader whose session ended
  cannot move it.

At-least-once delivery plus the coordinator's dedupe key makes each request become exactly one
job across restarts and hand-overs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Protocol

from services.indexer.leader import Leader

TABLE = "outlayer_indexer_cursor"


class CursorStore(Protocol):
    def load(self) -> int | None: ...

    def save(self, height: int) -> None: ...


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


class PgCursor:
    """The cursor of ``leader.name`` in table ``outlayer_indexer_cursor`` (created on first use;
    it is the indexer's own, outside the coordinator's migrations). Only the leader reads or
    writes it: otherwise both raise UNAVAILABLE."""

    def __init__(self, leader: Leader) -> None:
        self._leader = leader
        self._ready = False

    def _table(self) -> None:
        if not self._ready:
            self._leader.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLE} (name text PRIMARY KEY, "
                "last_height bigint NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())"
            )
            self._ready = True

    def load(self) -> int | None:
        self._table()
        rows = self._leader.execute(
            f"SELECT last_height FROM {TABLE} WHERE name = %s", (self._leader.name,)
        )
        return int(rows[0][0]) if rows else None

    def save(self, height: int) -> None:
        self._table()
        self._leader.execute(
            f"INSERT INTO {TABLE} (name, last_height) VALUES (%s, %s) ON CONFLICT (name) "
            "DO UPDATE SET last_height = excluded.last_height, updated_at = now()",
            (self._leader.name, height),
        )
