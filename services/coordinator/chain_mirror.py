"""The contract's self-service records, mirrored: what a block changed, applied in one commit.

The indexer forwards the storage records a final block wrote (``prj:OWNER/NAME``,
``pv:OWNER/NAME/N``, ``pk:OWNER:NONCE``, ``hus``, ``earn:ACCOUNT``; their shapes are in
contract/README.md, "Events and storage an indexer follows"). Every record carries its whole
state, so applying a block again (an indexer restarted before it moved its cursor) changes
nothing. This module is the one place that reads those shapes.

Payment keys: ``balance`` is the contract's. The HTTPS charges a key owes are ``unsettled``
until a settlement the contract applied covers them: the block that applies a batch writes both
the key's lower balance and ``hus.last_ledger_id``, and both are taken here in one transaction,
so a key's available balance (balance - unsettled - held) never counts a charge twice or not
at all.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from outlayer.errors import invalid_argument
from outlayer.v1 import coordinator_pb2 as pb
from services.coordinator.models import (
    ChainClock,
    ChainEarnings,
    ChargeState,
    HttpsCharge,
    PaymentKey,
    Project,
    ProjectVersion,
)
from services.coordinator.queue import utcnow

log = logging.getLogger("outlayer.coordinator.chain")

# Applied in this order within a block: a project before its versions, keys before the
# settlement that debits them.
_ORDER = ("prj:", "pv:", "pk:", "hus", "earn:")


def chain_key_id(owner: str, nonce: int) -> str:
    """The coordinator's id of an on-chain payment key (the chain names it OWNER/NONCE)."""
    return "ck_" + hashlib.sha256(f"{owner}:{nonce}".encode()).hexdigest()[:32]


class ChainMirror:
    def __init__(self, engine: Engine, on_change: Any = None) -> None:
        self._engine = engine
        # Called after a commit that changed projects or keys (the hot path's caches).
        self._on_change = on_change

    def apply(
        self,
        changes: list[pb.ChainStateChange],
        *,
        contract_id: str = "",
        height: int = 0,
        timestamp_ns: int = 0,
    ) -> int:
        """Applies one block's records; returns how many changed something."""
        ordered = sorted(
            enumerate(changes), key=lambda pair: (_rank(pair[1].key), pair[0])
        )  # stable: the block's own order within a kind
        applied = 0
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            for _, change in ordered:
                value = None if change.deleted else _record(change)
                key = change.key
                if key.startswith("prj:"):
                    applied += _project(session, key[4:], value)
                elif key.startswith("pv:"):
                    applied += _version(session, key[3:], value)
                elif key.startswith("pk:"):
                    applied += _payment_key(session, key[3:], value)
                elif key == "hus":
                    applied += _settlement(session, value)
                elif key.startswith("earn:"):
                    applied += _earnings(session, key[5:], value)
            if timestamp_ns:
                _clock(session, contract_id, height, timestamp_ns)
        if applied and self._on_change is not None:
            self._on_change()
        return applied


def _rank(key: str) -> int:
    for i, prefix in enumerate(_ORDER):
        if key.startswith(prefix):
            return i
    return len(_ORDER)


def _record(change: pb.ChainStateChange) -> dict[str, Any]:
    try:
        value = json.loads(change.value_json)
    except ValueError:
        raise invalid_argument(f"the record {change.key!r} is not JSON") from None
    if not isinstance(value, dict):
        raise invalid_argument(f"the record {change.key!r} is not a JSON object")
    return value


def _split_project(project_id: str) -> tuple[str, str]:
    owner, _, name = project_id.partition("/")
    if not owner or not name:
        raise invalid_argument(f"a project id is OWNER/NAME, got {project_id!r}")
    return owner, name


def _find_project(session: Session, owner: str, name: str) -> Project | None:
    return session.exec(
        select(Project).where(Project.owner == owner, Project.name == name).with_for_update()
    ).first()


def _project(session: Session, project_id: str, record: dict[str, Any] | None) -> int:
    owner, name = _split_project(project_id)
    project = _find_project(session, owner, name)
    if record is None:
        if project is None or project.deleted:
            return 0
        project.deleted = True
        session.add(project)
        return 1
    created = _time(record.get("created_at"))
    if project is None:
        project = Project(owner=owner, name=name, created_at=created)
    elif project.deleted or not project.on_chain:
        # Made again on chain (or taking over an operator's project of that name): the chain's
        # versions replace what was here.
        assert project.id is not None
        session.exec(delete(ProjectVersion).where(col(ProjectVersion.project_id) == project.id))
        project.created_at = created
    project.version = int(record["active_version"])
    project.on_chain = True
    project.deleted = False
    session.add(project)
    session.flush()
    return 1


def _version(session: Session, version_id: str, record: dict[str, Any] | None) -> int:
    project_id, _, number_text = version_id.rpartition("/")
    owner, name = _split_project(project_id)
    project = _find_project(session, owner, name)
    if project is None:
        if record is None:
            return 0
        raise invalid_argument(f"version {version_id!r} of a project the mirror does not have")
    number = int(number_text)
    version = session.exec(
        select(ProjectVersion).where(
            ProjectVersion.project_id == project.id, ProjectVersion.version == number
        )
    ).first()
    if record is None:
        if version is None:
            return 0
        session.delete(version)
        return 1
    if version is None:
        assert project.id is not None
        version = ProjectVersion(project_id=project.id, version=number,
                                 created_at=_time(record.get("created_at")))  # fmt: skip
    source = record.get("code_source")
    if isinstance(source, dict):
        version.code_repo = str(source.get("repo", ""))
        version.code_commit = source.get("commit") or None
        version.code_branch = source.get("branch") or None
        version.code_tag = source.get("tag") or None
        version.wasm_sha256 = None
    else:
        version.wasm_sha256 = str(record.get("wasm_sha256", "")).lower() or None
        version.code_repo = version.code_commit = version.code_branch = version.code_tag = None
    session.add(version)
    return 1


def _payment_key(session: Session, key_id: str, record: dict[str, Any] | None) -> int:
    owner, _, nonce_text = key_id.rpartition(":")
    nonce = int(nonce_text)
    key = session.exec(
        select(PaymentKey)
        .where(PaymentKey.owner == owner, PaymentKey.nonce == nonce)
        .with_for_update()
    ).first()
    if record is None:
        if key is None or key.deleted:
            return 0
        # Deleted on chain, its balance refunded: nothing more can be held or settled on it
        # (its unsettled charges are written off by the next settlement claim).
        key.deleted = True
        key.balance = "0"
        session.add(key)
        return 1
    if key is None:
        key = PaymentKey(
            key_id=chain_key_id(owner, nonce),
            secret_sha256=str(record["key_hash"]).lower(),
            owner=owner,
            nonce=nonce,
            created_at=_time(record.get("created_at")),
        )
    key.token_id = str(record["token_id"])
    key.balance = str(int(record["balance"]))
    most = record.get("max_per_call")
    key.max_per_call = None if most is None else str(int(most))
    allowed = record.get("allowed_projects")
    key.allowed_projects = None if allowed is None else json.dumps(list(allowed))
    expires = record.get("expires_at")
    key.expires_at_ns = None if expires is None else int(expires)
    key.deleted = False
    session.add(key)
    return 1


def _settlement(session: Session, record: dict[str, Any] | None) -> int:
    """Charges up to the contract's last settled ledger id are paid: off ``unsettled``."""
    if record is None:
        return 0
    last = int(record.get("last_ledger_id", 0))
    charges = session.exec(
        select(HttpsCharge)
        .where(
            HttpsCharge.state == ChargeState.UNSETTLED,
            col(HttpsCharge.ledger_id).is_not(None),
            col(HttpsCharge.ledger_id) <= last,
        )
        .with_for_update()
    ).all()
    if not charges:
        return 0
    now = utcnow()
    for charge in charges:
        key = session.exec(
            select(PaymentKey).where(PaymentKey.key_id == charge.key_id).with_for_update()
        ).one()
        key.unsettled = str(int(key.unsettled) - int(charge.amount) - int(charge.fee))
        session.add(key)
        charge.state = ChargeState.SETTLED
        charge.settled_at = now
        session.add(charge)
    log.info("%d HTTPS charges settled on chain (up to ledger id %d)", len(charges), last)
    return 1


def _earnings(session: Session, account: str, record: dict[str, Any] | None) -> int:
    session.exec(delete(ChainEarnings).where(col(ChainEarnings.owner) == account))
    for token, amount in (record or {}).items():
        if int(amount) > 0:
            session.add(ChainEarnings(owner=account, token_id=str(token), amount=str(int(amount))))
    return 1


def _clock(session: Session, contract_id: str, height: int, timestamp_ns: int) -> None:
    clock = session.get(ChainClock, contract_id, with_for_update=True)
    if clock is None:
        clock = ChainClock(contract_id=contract_id, block_height=0, block_timestamp_ns=0,
                           seen_at=utcnow())  # fmt: skip
    if height >= clock.block_height:
        clock.block_height, clock.block_timestamp_ns = height, timestamp_ns
        clock.seen_at = utcnow()
        session.add(clock)


def chain_now_ns(engine: Engine) -> int:
    """The chain's time now, as well as this coordinator knows it: the last mirrored block's
    timestamp plus the time since it was seen (the wall clock when nothing was mirrored)."""
    with Session(engine) as session:
        clock = session.exec(
            select(ChainClock).order_by(col(ChainClock.block_timestamp_ns).desc())
        ).first()
    if clock is None:
        return time.time_ns()
    since = (utcnow() - clock.seen_at).total_seconds()
    return clock.block_timestamp_ns + int(max(since, 0) * 1e9)


def _time(nanoseconds: Any) -> datetime:
    if not isinstance(nanoseconds, int) or nanoseconds <= 0:
        return utcnow()
    return datetime.fromtimestamp(nanoseconds / 1e9, UTC).replace(tzinfo=None)
