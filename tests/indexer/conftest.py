"""The indexer's leader lease and shared cursor run against the PostgreSQL on this machine, each
test on a database of its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.postgres_db import fresh_database


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh database (SQLAlchemy spelling, as ``database_url`` has it)."""
    with fresh_database() as url:
        yield url
