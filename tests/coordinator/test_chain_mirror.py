"""The contract's records mirrored into the coordinator, and HTTPS charges of on-chain keys
batched for settlement: ids given once and kept until applied, a settled batch off the key's
unsettled amount in the same commit as its lower balance, a deleted key's charges written off.
On SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select

from outlayer.config import CoordinatorSettings
from outlayer.result import ExecutionResult, ExecutionStatus, ResourcesUsed
from outlayer.v1 import coordinator_pb2 as pb
from services.coordinator.billing import Billing, call_job_key
from services.coordinator.chain_mirror import ChainMirror, chain_key_id, chain_now_ns
from services.coordinator.models import (
    Call,
    ChainEarnings,
    ChargeState,
    HttpsCharge,
    PaymentKey,
    Project,
    ProjectVersion,
)
from services.coordinator.public_reads import earnings, earnings_history, key_balance
from services.coordinator.queue import JobQueue, JobSpec, utcnow
from services.coordinator.settlement import Settlements

TOKEN = "usdc.test"
SECRET_HASH = hashlib.sha256(b"olk_secret").hexdigest()


def change(key: str, value: dict[str, Any] | None) -> pb.ChainStateChange:
    if value is None:
        return pb.ChainStateChange(key=key, deleted=True)
    return pb.ChainStateChange(key=key, value_json=json.dumps(value))


def key_record(balance: int, nonce: int = 1, **limits: Any) -> dict[str, Any]:
    digest = SECRET_HASH if nonce == 1 else hashlib.sha256(f"olk_{nonce}".encode()).hexdigest()
    return {"owner": "alice.test", "nonce": nonce, "key_hash": digest, "token_id": TOKEN,
            "balance": str(balance).zfill(40), "max_per_call": limits.get("max_per_call"),
            "allowed_projects": limits.get("allowed_projects"),
            "expires_at": limits.get("expires_at"), "created_at": 1_700_000_000}  # fmt: skip


def project_changes(version: int = 1) -> list[pb.ChainStateChange]:
    return [
        change("pv:dev.test/echo/1", {"version": "0000000001", "created_at": 1,
                                      "wasm_sha256": "ab" * 32}),
        change("prj:dev.test/echo", {"owner": "dev.test", "name": "echo",
                                     "active_version": str(version).zfill(10),
                                     "versions": str(version).zfill(10), "created_at": 1}),
    ]  # fmt: skip


def _key(engine: Engine, nonce: int = 1) -> PaymentKey:
    with Session(engine) as session:
        return session.exec(
            select(PaymentKey).where(PaymentKey.owner == "alice.test", PaymentKey.nonce == nonce)
        ).one()


def _charged_call(engine: Engine, queue: JobQueue, nonce: int = 1) -> tuple[str, int]:
    """A call paid with the on-chain key, run and settled here: (call id, what it cost)."""
    billing = Billing(engine, queue, CoordinatorSettings())
    key = _key(engine, nonce)
    call_id = uuid.uuid4().hex
    billing.hold(key.key_id, Call(
        call_id=call_id, key_id=key.key_id, owner="dev.test", project="echo", job_id=0,
        hold="100000", max_cost="90000", attached_deposit="10000", created_at=utcnow(),
        token_id=TOKEN,
    ))  # fmt: skip
    job_id = queue.enqueue(JobSpec(call_job_key(call_id), "https", {"input": ""}))
    assert queue.lease("w") is not None
    used = ResourcesUsed(instructions=2_000_000, time_ms=10, memory_bytes=0)
    queue.complete(job_id, "w", ExecutionResult(ExecutionStatus.SUCCESS, {}, None, used).to_json())
    settled = billing.settle(call_id)
    assert settled is not None and settled.token_id == TOKEN
    return call_id, settled.charged


def test_projects_and_versions_follow_the_chain_and_a_block_applied_twice_changes_nothing(
    engine: Engine,
) -> None:
    mirror = ChainMirror(engine)
    # Versions come before their project in storage-key order; the mirror applies projects first.
    assert mirror.apply(project_changes()) == 2
    mirror.apply(project_changes())
    with Session(engine) as session:
        project = session.exec(select(Project)).one()
        versions = session.exec(select(ProjectVersion)).all()
    assert (project.owner, project.name, project.version, project.on_chain) == (
        "dev.test", "echo", 1, True)  # fmt: skip
    assert [(v.version, v.wasm_sha256) for v in versions] == [(1, "ab" * 32)]
    branch = {"repo": "https://github.com/dev/echo", "branch": "main"}
    mirror.apply([
        change("pv:dev.test/echo/2", {"version": "0000000002", "created_at": 2,
                                      "code_source": branch}),
        change("prj:dev.test/echo", {"owner": "dev.test", "name": "echo",
                                     "active_version": "0000000002", "versions": "0000000002",
                                     "created_at": 1}),
    ])  # fmt: skip
    with Session(engine) as session:
        second = session.exec(select(ProjectVersion).where(ProjectVersion.version == 2)).one()
        assert (second.code_repo, second.code_branch, second.code_commit) == (
            branch["repo"], "main", None)  # fmt: skip
        assert session.exec(select(Project)).one().version == 2
    mirror.apply([change("prj:dev.test/echo", None), change("pv:dev.test/echo/1", None),
                  change("pv:dev.test/echo/2", None)])  # fmt: skip
    with Session(engine) as session:
        assert session.exec(select(Project)).one().deleted
        assert session.exec(select(ProjectVersion)).all() == []
    mirror.apply(project_changes())  # made again: version 1 anew
    with Session(engine) as session:
        project = session.exec(select(Project)).one()
        assert not project.deleted and project.version == 1


def test_a_charge_is_unsettled_until_the_block_that_applies_its_batch(engine: Engine) -> None:
    mirror = ChainMirror(engine)
    queue = JobQueue(engine, lease_seconds=30)
    settlements = Settlements(engine)
    mirror.apply([*project_changes(), change("pk:alice.test:1", key_record(1_000_000))])
    key = _key(engine)
    assert key.key_id == chain_key_id("alice.test", 1) and key.secret_sha256 == SECRET_HASH
    call_id, cost = _charged_call(engine, queue)
    key = _key(engine)
    assert (int(key.balance), int(key.unsettled), key.available) == (
        1_000_000, cost, 1_000_000 - cost)  # fmt: skip
    assert earnings(engine, "dev.test").https_unsettled[0].amount == "10000"

    batch = settlements.claim(chain_last_ledger_id=0)
    assert [(e.ledger_id, e.key_owner, e.key_nonce, e.owner, e.project) for e in batch.entries] == [
        (1, "alice.test", 1, "dev.test", "echo")]  # fmt: skip
    entry = batch.entries[0]
    assert int(entry.amount) == 10_000 and int(entry.amount) + int(entry.fee) == cost
    # Not applied yet (the send failed, or the indexer died): the same batch, the same ids.
    assert settlements.claim(chain_last_ledger_id=0) == batch
    # The block that applies it: the key's lower balance and the settlement state, together.
    mirror.apply([change("pk:alice.test:1", key_record(1_000_000 - cost)),
                  change("hus", {"last_ledger_id": 1, "batches": 1, "entries": 1})])  # fmt: skip
    key = _key(engine)
    assert (int(key.balance), int(key.unsettled), key.available) == (
        1_000_000 - cost, 0, 1_000_000 - cost)  # fmt: skip
    mirror.apply([change("hus", {"last_ledger_id": 1, "batches": 1, "entries": 1})])  # again
    assert int(_key(engine).unsettled) == 0  # not taken off twice
    assert settlements.claim(chain_last_ledger_id=1).entries == []
    history = earnings_history(engine, "dev.test", "", 0).entries
    assert [(h.source, h.call_id, h.settlement) for h in history] == [
        ("https", call_id, ChargeState.SETTLED)]  # fmt: skip
    assert earnings(engine, "dev.test").https_unsettled == []
    # The next charge gets the next id.
    _charged_call(engine, queue)
    assert [e.ledger_id for e in settlements.claim(chain_last_ledger_id=1).entries] == [2]


def test_a_key_deleted_on_chain_before_settlement_has_its_charges_written_off(
    engine: Engine,
) -> None:
    mirror = ChainMirror(engine)
    queue = JobQueue(engine, lease_seconds=30)
    settlements = Settlements(engine)
    mirror.apply([*project_changes(), change("pk:alice.test:1", key_record(10**6)),
                  change("pk:alice.test:2", key_record(10**6, 2))])  # fmt: skip
    _charged_call(engine, queue, nonce=1)
    _charged_call(engine, queue, nonce=2)
    sent = settlements.claim(chain_last_ledger_id=0)
    assert [e.key_nonce for e in sent.entries] == [1, 2]
    # Key 1 is deleted on chain before the batch lands: the contract would refuse the batch,
    # so key 2's charge goes out again alone, with a new id above the ones given before.
    mirror.apply([change("pk:alice.test:1", None)])
    again = settlements.claim(chain_last_ledger_id=0)
    assert [(e.key_nonce, e.ledger_id) for e in again.entries] == [(2, 3)]
    with Session(engine) as session:
        lost = session.exec(select(HttpsCharge).where(HttpsCharge.key_nonce == 1)).one()
    assert (lost.state, lost.ledger_id) == (ChargeState.WRITTEN_OFF, None)
    deleted = key_balance(engine, "alice.test", 1)
    assert deleted.deleted and deleted.available == "0"


def test_earnings_on_chain_are_mirrored_per_token(engine: Engine) -> None:
    mirror = ChainMirror(engine)
    mirror.apply([change("earn:dev.test", {TOKEN: "25", "near": "0"})])
    with Session(engine) as session:
        rows = session.exec(select(ChainEarnings)).all()
    assert [(r.owner, r.token_id, r.amount) for r in rows] == [("dev.test", TOKEN, "25")]
    mirror.apply([change("earn:dev.test", None)])  # withdrawn to nothing
    assert list(earnings(engine, "dev.test").on_chain) == []


def test_the_chain_clock_is_the_last_block_seen_plus_the_time_since(engine: Engine) -> None:
    mirror = ChainMirror(engine)
    mirror.apply([], contract_id="c.test", height=10, timestamp_ns=1_700_000_000 * 10**9)
    mirror.apply([], contract_id="c.test", height=9, timestamp_ns=1)  # an older block: ignored
    now = chain_now_ns(engine)
    assert 1_700_000_000 * 10**9 <= now < 1_700_000_060 * 10**9
