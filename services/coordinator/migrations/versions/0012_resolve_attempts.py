"""The resolve_execution transactions the indexer signed for a request, recorded before each
was sent: an indexer restarted between a resolve and its acknowledgement finds which one put
the result on chain, so the listing keeps its transaction and fee, and the earnings history
the payment it carried.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chain_requests") as batch:
        batch.add_column(sa.Column("resolve_attempts", AutoString(length=400), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chain_requests") as batch:
        batch.drop_column("resolve_attempts")
