"""The coordinator's tables. Changing them means adding an Alembic migration (see migrations/)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    LargeBinary,
    Text,
    UniqueConstraint,
    false,
)
from sqlmodel import Field, SQLModel

# Server defaults of columns added to tables with rows (migration 0009).
_NEAR = {"server_default": "near"}
_HTTPS = {"server_default": "https"}


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
    # Mirrored from the contract by the indexer (else made by the operator's X-Admin-Token).
    on_chain: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    deleted: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


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
    code_branch: str | None = Field(default=None, max_length=255)  # chain versions may name
    code_tag: str | None = Field(default=None, max_length=255)  # a branch or tag instead
    wasm_sha256: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))


class PaymentKey(SQLModel, table=True):
    """A key that pays for HTTPS calls. Amounts are decimal strings in the key's unit
    (``token_id``: "near" is yoctoNEAR, a stablecoin its smallest unit), exact at any size.

    A key made on chain (``nonce`` set) is mirrored by the indexer: ``balance`` is the
    contract's, and what this coordinator charged but the chain has not settled yet is
    ``unsettled``. An operator's key (no nonce) is charged in ``balance`` directly."""

    __tablename__ = "payment_keys"
    __table_args__ = (
        UniqueConstraint("key_id", name="uq_payment_keys_key_id"),
        UniqueConstraint("secret_sha256", name="uq_payment_keys_secret_sha256"),
        UniqueConstraint("owner", "nonce", name="uq_payment_keys_owner_nonce"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key_id: str = Field(max_length=64)
    secret_sha256: str = Field(max_length=64)
    owner: str = Field(max_length=200)
    balance: str = Field(default="0", max_length=80)
    held: str = Field(default="0", max_length=80)
    created_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    token_id: str = Field(
        default="near", max_length=100, sa_column_kwargs={"server_default": "near"}
    )
    nonce: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    max_per_call: str | None = Field(default=None, max_length=80)
    allowed_projects: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    expires_at_ns: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    deleted: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    unsettled: str = Field(default="0", max_length=80, sa_column_kwargs={"server_default": "0"})

    @property
    def available(self) -> int:
        return int(self.balance) - int(self.unsettled) - int(self.held)


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
    token_id: str = Field(
        default="near", max_length=100, sa_column_kwargs={"server_default": "near"}
    )
    # What its nonce names (public._request_digest); none for a call made before it was kept.
    request_sha256: str | None = Field(default=None, max_length=64)


class EarningsEntry(SQLModel, table=True):
    """One payment a project owner earned: an HTTPS call's attached deposit (``source``
    "https", ``call_id``), or a request's attached USD paid on chain ("chain", ``request_id``,
    recorded when its resolve is final)."""

    __tablename__ = "earnings_history"

    id: int | None = Field(default=None, primary_key=True)
    owner: str = Field(max_length=200, index=True)
    call_id: str = Field(max_length=64)
    project: str = Field(max_length=200)
    amount: str = Field(max_length=80)
    payer_key_id: str = Field(max_length=64)
    created_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    token_id: str = Field(
        default="near", max_length=100, sa_column_kwargs={"server_default": "near"}
    )
    source: str = Field(
        default="https", max_length=16, sa_column_kwargs={"server_default": "https"}
    )
    request_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


class ChainClock(SQLModel, table=True):
    """The chain's time as the last mirrored block gave it, and when that was seen here:
    payment keys expire by the chain's clock (which need not be this machine's: the tests'
    in-process chains run one second a block)."""

    __tablename__ = "chain_clock"

    contract_id: str = Field(primary_key=True, max_length=200)
    block_height: int = Field(sa_column=Column(BigInteger, nullable=False))
    block_timestamp_ns: int = Field(sa_column=Column(BigInteger, nullable=False))
    seen_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))


class ChainEarnings(SQLModel, table=True):
    """The contract's earnings of an account (``earn:ACCOUNT``), as the indexer last saw them:
    what it may withdraw on chain now."""

    __tablename__ = "chain_earnings"

    owner: str = Field(primary_key=True, max_length=200)
    token_id: str = Field(primary_key=True, max_length=100)
    amount: str = Field(max_length=80)


class OwnerEarnings(SQLModel, table=True):
    """What a project owner earned over HTTPS, per unit."""

    __tablename__ = "owner_earnings"

    owner: str = Field(primary_key=True, max_length=200)
    token_id: str = Field(primary_key=True, max_length=100)
    total: str = Field(default="0", max_length=80)


class ChargeState(enum.StrEnum):
    UNSETTLED = "unsettled"  # charged here; not in a batch the chain applied yet
    SETTLED = "settled"  # the contract applied it (and the mirror took it off ``unsettled``)
    WRITTEN_OFF = "written_off"  # its key was deleted on chain before it could be settled


class HttpsCharge(SQLModel, table=True):
    """One charge of an on-chain payment key, to be settled on chain (settle_https_usage):
    ``amount`` to the project's owner, ``fee`` (the compute) to the contract's owner. The
    ledger id is given when the charge joins a batch, so ids rise in the order batches are
    sent, whatever order charges committed in."""

    __tablename__ = "https_charges"
    __table_args__ = (
        UniqueConstraint("call_id", name="uq_https_charges_call_id"),
        UniqueConstraint("ledger_id", name="uq_https_charges_ledger_id"),
        Index("ix_https_charges_state", "state", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    call_id: str = Field(max_length=64)
    key_id: str = Field(max_length=64)
    key_owner: str = Field(max_length=200)
    key_nonce: int = Field(sa_column=Column(BigInteger, nullable=False))
    project_owner: str = Field(max_length=200)
    project_name: str = Field(max_length=200)
    token_id: str = Field(max_length=100)
    amount: str = Field(max_length=80)
    fee: str = Field(max_length=80)
    ledger_id: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    state: str = Field(default=ChargeState.UNSETTLED, max_length=16)
    created_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    settled_at: datetime | None = Field(default=None, sa_column=Column(DateTime(), nullable=True))
    # The settle_https_usage transaction that carried it (migration 0011; the indexer says).
    settlement_tx: str | None = Field(default=None, max_length=64)


class ChainRequest(SQLModel, table=True):
    """A request made on chain (request_execution) and its job: what its sender's public
    listing is read by. Written when the indexer queues it; the resolve_execution that
    delivered its result (and the fee charged) when the indexer acknowledges it; before
    that, the resolve transactions it signed (newest first, space-separated), each recorded
    before it was sent."""

    __tablename__ = "chain_requests"
    __table_args__ = (
        UniqueConstraint("contract_id", "request_id", name="uq_chain_requests_request"),
        Index("ix_chain_requests_sender", "sender", "job_id"),
    )

    job_id: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    contract_id: str = Field(max_length=200)
    request_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    sender: str = Field(max_length=200)
    code_repo: str = Field(max_length=300)
    created_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))
    resolve_tx: str | None = Field(default=None, max_length=64)
    charged: str | None = Field(default=None, max_length=80)
    resolve_attempts: str | None = Field(default=None, max_length=400)


class SystemHiddenLog(SQLModel, table=True):
    """Raw build/run output kept for operators when save_system_hidden_logs_to_debug is on;
    readable only through the admin API on loopback, never in a public answer."""

    __tablename__ = "system_hidden_logs"

    id: int | None = Field(default=None, primary_key=True)
    job_id: int = Field(index=True)
    source: str = Field(max_length=200)
    text: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))


class StorageEntry(SQLModel, table=True):
    """One key of a guest store: ``namespace`` is the project's (``project:OWNER/NAME``, or for
    a request on chain ``repo:URL``), ``caller`` "" for its shared space or the account whose
    own space it is; ``value`` is as the executor sent it (encrypted with the project's key)."""

    __tablename__ = "storage_entries"

    namespace: str = Field(primary_key=True, max_length=400)
    caller: str = Field(primary_key=True, max_length=200)
    key: str = Field(primary_key=True, max_length=512)
    value: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    version: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(), nullable=False))


class StorageUsage(SQLModel, table=True):
    """What a store holds, counted against its quotas (every caller's space included)."""

    __tablename__ = "storage_usage"

    namespace: str = Field(primary_key=True, max_length=400)
    keys: int = Field(sa_column=Column(BigInteger, nullable=False))
    bytes: int = Field(sa_column=Column(BigInteger, nullable=False))
