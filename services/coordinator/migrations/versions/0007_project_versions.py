"""Project versions: each points at a code source (repository at a commit) or a module.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "project_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("code_repo", AutoString(length=300), nullable=True),
        sa.Column("code_commit", AutoString(length=40), nullable=True),
        sa.Column("wasm_sha256", AutoString(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "version", name="uq_project_versions_project_version"),
    )
    # Each existing project's current module becomes its version record.
    op.execute(
        "INSERT INTO project_versions (project_id, version, wasm_sha256, created_at) "
        "SELECT id, version, wasm_sha256, created_at FROM projects"
    )
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("wasm_sha256")


def downgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("wasm_sha256", AutoString(length=64), nullable=True))
    op.execute(
        "UPDATE projects SET wasm_sha256 = (SELECT v.wasm_sha256 FROM project_versions v "
        "WHERE v.project_id = projects.id AND v.version = projects.version)"
    )
    op.drop_table("project_versions")
