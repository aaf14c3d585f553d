"""Executions' listings: requests made on chain by sender (with the resolve_execution that
delivered each), and the settle_https_usage transaction that carried each HTTPS charge.

Requests queued before this migration are listed too: their rows are filled from the jobs.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("https_charges") as batch:
        batch.add_column(sa.Column("settlement_tx", AutoString(length=64), nullable=True))
    requests = op.create_table(
        "chain_requests",
        sa.Column("job_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("contract_id", AutoString(length=200), nullable=False),
        sa.Column("request_id", sa.BigInteger(), nullable=False),
        sa.Column("sender", AutoString(length=200), nullable=False),
        sa.Column("code_repo", AutoString(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("resolve_tx", AutoString(length=64), nullable=True),
        sa.Column("charged", AutoString(length=80), nullable=True),
        sa.PrimaryKeyConstraint("job_id"),
        sa.UniqueConstraint("contract_id", "request_id", name="uq_chain_requests_request"),
    )
    op.create_index("ix_chain_requests_sender", "chain_requests", ["sender", "job_id"])
    jobs = sa.table(
        "jobs", sa.column("id", sa.Integer()), sa.column("kind", sa.String()),
        sa.column("spec_json", sa.Text()), sa.column("created_at", sa.DateTime()),
    )  # fmt: skip
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(jobs.c.id, jobs.c.spec_json, jobs.c.created_at).where(jobs.c.kind == "near")
    ).all()
    backfill = []
    for job_id, spec_json, created_at in rows:
        spec = json.loads(spec_json)
        near = (spec.get("origin") or {}).get("near") or {}
        backfill.append({
            "job_id": job_id, "contract_id": str(near.get("contract_id", "")),
            "request_id": int(near.get("request_id", 0)), "sender": str(near.get("sender_id", "")),
            "code_repo": str((spec.get("code_source") or {}).get("repo", "")),
            "created_at": created_at,
        })  # fmt: skip
    if backfill:
        op.bulk_insert(requests, backfill)


def downgrade() -> None:
    op.drop_index("ix_chain_requests_sender", table_name="chain_requests")
    op.drop_table("chain_requests")
    with op.batch_alter_table("https_charges") as batch:
        batch.drop_column("settlement_tx")
