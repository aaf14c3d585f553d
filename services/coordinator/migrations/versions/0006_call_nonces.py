"""Per-key nonces on HTTPS calls: a retried request is not run or charged twice.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.add_column(sa.Column("nonce", AutoString(length=100), nullable=True))
        batch.create_unique_constraint("uq_calls_key_nonce", ["key_id", "nonce"])


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_constraint("uq_calls_key_nonce", type_="unique")
        batch.drop_column("nonce")
