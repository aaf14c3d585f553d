"""The coordinator's tables. Changing them means adding an Alembic migration (see migrations/)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    COMPILING = "compiling"  # waiting for its module's build (compile, then run)
    LEASED = "leased"
    DONE = "done"
    FAILED = "failed"


class Job(SQLModel, table=True):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("dedupe_key", name="uq_jobs_dedupe_key"),
        Index("ix_jobs_queue", "status", "priority", "id"),
        Index("ix_jobs_unsettled", "kind", "settled_at", "completed_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    # Who asked, once: "near:<contract>:<request_id>" or "https:<call_id>". Enqueueing the same key
    # twice returns the first job, so a restarted indexer never doubles a request.
    dedupe_key: str = Field(max_length=300)
    kind: str = Field(max_length=16)  # "near" or "https"
    status: str = Field(default=JobStatus.QUEUED, max_length=16)
    priority: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    spec_json: str = Field(sa_column=Column(Text, nullable=False))
    result_json: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    attempts: int = 0
    max_attempts: int = 3
    lease_owner: str | None = Field(default=None, max_length=200)
    lease_expires_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(), nullable=True)
    )
    created_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    completed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(), nullable=True))
    # When the result reached its caller (for "near" jobs: resolve_execution is final).
    settled_at: datetime | None = Field(default=None, sa_column=Column(DateTime(), nullable=True))


class Worker(SQLModel, table=True):
    """An executor allowed to lease jobs. Only the SHA-256 of its token is kept."""

    __tablename__ = "workers"
    __table_args__ = (
        UniqueConstraint("name", name="uq_workers_name"),
        UniqueConstraint("token_sha256", name="uq_workers_token_sha256"),
    )

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)
    token_sha256: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    revoked: bool = False


class Project(SQLModel, table=True):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("owner", "name", name="uq_projects_owner_name"),)

    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(max_length=200)
    name: str = Field(max_length=200)
    version: int = 1  # the current version: what a call without a version runs
    created_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))


class ProjectVersion(SQLModel, table=True):
    """Every version a project has had: a code source (repository at a commit) or a module."""

    __tablename__ = "project_versions"
    __table_args__ = (
        UniqueConstraint("project_id", "version", name="uq_project_versions_project_version"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id")
    version: int
    code_repo: str | None = Field(default=None, max_length=300)
    code_commit: str | None = Field(default=None, max_length=40)
    wasm_sha256: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))


class PaymentKey(SQLModel, table=True):
    """Amounts are decimal strings of yoctoNEAR: exact at any size, in SQLite and PostgreSQL."""

    __tablename__ = "payment_keys"
    __table_args__ = (
        UniqueConstraint("key_id", name="uq_payment_keys_key_id"),
        UniqueConstraint("secret_sha256", name="uq_payment_keys_secret_sha256"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key_id: str = Field(max_length=64)
    secret_sha256: str = Field(max_length=64)
    owner: str = Field(max_length=200)
    balance: str = Field(default="0", max_length=80)
    held: str = Field(default="0", max_length=80)
    created_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))


class Call(SQLModel, table=True):
    __tablename__ = "calls"
    __table_args__ = (
        UniqueConstraint("key_id", "nonce", name="uq_calls_key_nonce"),
        Index("ix_calls_key_created", "key_id", "created_at", "call_id"),  # GET /executions
        Index("ix_calls_owner_created", "owner", "created_at", "call_id"),
    )

    call_id: str = Field(primary_key=True, max_length=64)
    key_id: str = Field(max_length=64)
    owner: str = Field(max_length=200)
    project: str = Field(max_length=200)
    job_id: int
    hold: str = Field(max_length=80)
    max_cost: str = Field(max_length=80)
    attached_deposit: str = Field(max_length=80)
    charged: str | None = Field(default=None, max_length=80)
    nonce: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))


class EarningsEntry(SQLModel, table=True):
    __tablename__ = "earnings_history"

    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(max_length=200, index=True)
    call_id: str = Field(max_length=64)
    project: str = Field(max_length=200)
    amount: str = Field(max_length=80)
    payer_key_id: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))


class OwnerEarnings(SQLModel, table=True):
    __tablename__ = "project_owner_earnings"

    owner: str = Field(primary_key=True, max_length=200)
    total: str = Field(default="0", max_length=80)


class SystemHiddenLog(SQLModel, table=True):
    """Raw build/run output kept for operators when save_system_hidden_logs_to_debug is on;
    readable only through the admin API on loopback, never in a public answer."""

    __tablename__ = "system_hidden_logs"

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(index=True)
    source: str = Field(max_length=200)
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
