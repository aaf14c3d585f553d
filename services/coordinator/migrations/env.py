"""Alembic environment: runs on the connection the coordinator hands it."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

from services.coordinator import models  # noqa: F401  (registers the tables)

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through services.coordinator.database.migrate()")
context.configure(
    connection=connection,
    target_metadata=SQLModel.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
