"""system_hidden_logs: raw output for operators, kept only when the debug flag is on.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "system_hidden_logs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("source", AutoString(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_system_hidden_logs_job_id", "system_hidden_logs", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_system_hidden_logs_job_id", table_name="system_hidden_logs")
    op.drop_table("system_hidden_logs")
