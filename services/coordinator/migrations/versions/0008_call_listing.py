"""Indexes for listing executions: a key's calls and an owner's projects' calls, newest first.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_calls_key_created", "calls", ["key_id", "created_at", "call_id"])
    op.create_index("ix_calls_owner_created", "calls", ["owner", "created_at", "call_id"])


def downgrade() -> None:
    op.drop_index("ix_calls_owner_created", table_name="calls")
    op.drop_index("ix_calls_key_created", table_name="calls")
