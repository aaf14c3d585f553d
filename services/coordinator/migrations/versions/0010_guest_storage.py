"""Guests' persistent storage: versioned entries per project (and per caller), and each
store's usage for its quotas.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "storage_entries",
        sa.Column("namespace", AutoString(length=400), nullable=False),
        sa.Column("caller", AutoString(length=200), nullable=False),
        sa.Column("key", AutoString(length=512), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("namespace", "caller", "key"),
    )
    op.create_table(
        "storage_usage",
        sa.Column("namespace", AutoString(length=400), nullable=False),
        sa.Column("keys", sa.BigInteger(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("namespace"),
    )


def downgrade() -> None:
    op.drop_table("storage_usage")
    op.drop_table("storage_entries")
