"""Projects, payment keys, HTTPS calls and project owners' earnings.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", AutoString(length=200), nullable=False),
        sa.Column("name", AutoString(length=200), nullable=False),
        sa.Column("wasm_sha256", AutoString(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("owner", "name", name="uq_projects_owner_name"),
    )
    op.create_table(
        "payment_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_id", AutoString(length=64), nullable=False),
        sa.Column("secret_sha256", AutoString(length=64), nullable=False),
        sa.Column("owner", AutoString(length=200), nullable=False),
        sa.Column("balance", AutoString(length=80), nullable=False),
        sa.Column("held", AutoString(length=80), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_id", name="uq_payment_keys_key_id"),
        sa.UniqueConstraint("secret_sha256", name="uq_payment_keys_secret_sha256"),
    )
    op.create_table(
        "calls",
        sa.Column("call_id", AutoString(length=64), nullable=False),
        sa.Column("key_id", AutoString(length=64), nullable=False),
        sa.Column("owner", AutoString(length=200), nullable=False),
        sa.Column("project", AutoString(length=200), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("hold", AutoString(length=80), nullable=False),
        sa.Column("max_cost", AutoString(length=80), nullable=False),
        sa.Column("attached_deposit", AutoString(length=80), nullable=False),
        sa.Column("charged", AutoString(length=80), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("call_id"),
    )
    op.create_table(
        "earnings_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner", AutoString(length=200), nullable=False),
        sa.Column("call_id", AutoString(length=64), nullable=False),
        sa.Column("project", AutoString(length=200), nullable=False),
        sa.Column("amount", AutoString(length=80), nullable=False),
        sa.Column("payer_key_id", AutoString(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_earnings_history_owner", "earnings_history", ["owner"])
    op.create_table(
        "project_owner_earnings",
        sa.Column("owner", AutoString(length=200), nullable=False),
        sa.Column("total", AutoString(length=80), nullable=False),
        sa.PrimaryKeyConstraint("owner"),
    )


def downgrade() -> None:
    op.drop_table("project_owner_earnings")
    op.drop_index("ix_earnings_history_owner", table_name="earnings_history")
    op.drop_table("earnings_history")
    op.drop_table("calls")
    op.drop_table("payment_keys")
    op.drop_table("projects")
