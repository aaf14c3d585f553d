"""Payment keys and projects that live on chain (mirrored by the indexer), one unit per key,
and the ledger of HTTPS charges settled on chain.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("payment_keys") as batch:
        batch.add_column(
            sa.Column("token_id", AutoString(length=100), nullable=False, server_default="near")
        )
        batch.add_column(sa.Column("nonce", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("max_per_call", AutoString(length=80), nullable=True))
        batch.add_column(sa.Column("allowed_projects", sa.Text(), nullable=True))
        batch.add_column(sa.Column("expires_at_ns", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("unsettled", AutoString(length=80), nullable=False, server_default="0")
        )
        batch.create_unique_constraint("uq_payment_keys_owner_nonce", ["owner", "nonce"])
    with op.batch_alter_table("calls") as batch:
        batch.add_column(
            sa.Column("token_id", AutoString(length=100), nullable=False, server_default="near")
        )
    with op.batch_alter_table("earnings_history") as batch:
        batch.add_column(
            sa.Column("token_id", AutoString(length=100), nullable=False, server_default="near")
        )
        batch.add_column(
            sa.Column("source", AutoString(length=16), nullable=False, server_default="https")
        )
        batch.add_column(sa.Column("request_id", sa.BigInteger(), nullable=True))
    op.create_table(
        "chain_clock",
        sa.Column("contract_id", AutoString(length=200), nullable=False),
        sa.Column("block_height", sa.BigInteger(), nullable=False),
        sa.Column("block_timestamp_ns", sa.BigInteger(), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("contract_id"),
    )
    op.create_table(
        "chain_earnings",
        sa.Column("owner", AutoString(length=200), nullable=False),
        sa.Column("token_id", AutoString(length=100), nullable=False),
        sa.Column("amount", AutoString(length=80), nullable=False),
        sa.PrimaryKeyConstraint("owner", "token_id"),
    )
    with op.batch_alter_table("project_versions") as batch:
        batch.add_column(sa.Column("code_branch", AutoString(length=255), nullable=True))
        batch.add_column(sa.Column("code_tag", AutoString(length=255), nullable=True))
    with op.batch_alter_table("projects") as batch:
        batch.add_column(
            sa.Column("on_chain", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("deleted", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    # Earnings are kept per unit now: an owner earns NEAR and stablecoins apart.
    op.create_table(
        "owner_earnings",
        sa.Column("owner", AutoString(length=200), nullable=False),
        sa.Column("token_id", AutoString(length=100), nullable=False),
        sa.Column("total", AutoString(length=80), nullable=False),
        sa.PrimaryKeyConstraint("owner", "token_id"),
    )
    op.execute(
        "INSERT INTO owner_earnings (owner, token_id, total) "
        "SELECT owner, 'near', total FROM project_owner_earnings"
    )
    op.drop_table("project_owner_earnings")
    op.create_table(
        "https_charges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("call_id", AutoString(length=64), nullable=False),
        sa.Column("key_id", AutoString(length=64), nullable=False),
        sa.Column("key_owner", AutoString(length=200), nullable=False),
        sa.Column("key_nonce", sa.BigInteger(), nullable=False),
        sa.Column("project_owner", AutoString(length=200), nullable=False),
        sa.Column("project_name", AutoString(length=200), nullable=False),
        sa.Column("token_id", AutoString(length=100), nullable=False),
        sa.Column("amount", AutoString(length=80), nullable=False),
        sa.Column("fee", AutoString(length=80), nullable=False),
        sa.Column("ledger_id", sa.BigInteger(), nullable=True),
        sa.Column("state", AutoString(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("settled_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("call_id", name="uq_https_charges_call_id"),
        sa.UniqueConstraint("ledger_id", name="uq_https_charges_ledger_id"),
    )
    op.create_index("ix_https_charges_state", "https_charges", ["state", "id"])


def downgrade() -> None:
    op.drop_index("ix_https_charges_state", table_name="https_charges")
    op.drop_table("https_charges")
    op.create_table(
        "project_owner_earnings",
        sa.Column("owner", AutoString(length=200), nullable=False),
        sa.Column("total", AutoString(length=80), nullable=False),
        sa.PrimaryKeyConstraint("owner"),
    )
    op.execute(
        "INSERT INTO project_owner_earnings (owner, total) "
        "SELECT owner, total FROM owner_earnings WHERE token_id = 'near'"
    )
    op.drop_table("owner_earnings")
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("deleted")
        batch.drop_column("on_chain")
    with op.batch_alter_table("project_versions") as batch:
        batch.drop_column("code_tag")
        batch.drop_column("code_branch")
    op.drop_table("chain_earnings")
    op.drop_table("chain_clock")
    with op.batch_alter_table("earnings_history") as batch:
        batch.drop_column("request_id")
        batch.drop_column("source")
        batch.drop_column("token_id")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("token_id")
    with op.batch_alter_table("payment_keys") as batch:
        batch.drop_constraint("uq_payment_keys_owner_nonce", type_="unique")
        for column in ("unsettled", "deleted", "expires_at_ns", "allowed_projects",
                       "max_per_call", "nonce", "token_id"):  # fmt: skip
            batch.drop_column(column)
