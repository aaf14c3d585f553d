"""When a finished job's result reached its caller.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("settled_at", sa.DateTime(), nullable=True))
    op.create_index("ix_jobs_unsettled", "jobs", ["kind", "settled_at", "completed_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_unsettled", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("settled_at")
