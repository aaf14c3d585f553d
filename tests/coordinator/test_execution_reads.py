"""The executions' public reads on SQLite and PostgreSQL: an account's requests on chain (newest
first, in pages, filtered by status and repository), one request's detail with only what its
resolve put on chain, the resolve and settlement transactions recorded, and bad inputs refused
with a clear message."""

from __future__ import annotations

import json

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, text
from sqlmodel import Session, select

from outlayer.errors import ExecutionErrorType, OutlayerError
from outlayer.origin import job_key
from outlayer.result import ExecutionResult, ResourcesUsed
from outlayer.v1 import coordinator_pb2 as pb
from services.coordinator import JobQueue
from services.coordinator.chain_requests import (
    KEPT_ATTEMPTS,
    record_resolve_attempt,
    record_resolved,
    record_submitted,
)
from services.coordinator.database import MIGRATIONS, make_engine
from services.coordinator.models import HttpsCharge
from services.coordinator.public_reads import chain_request, chain_requests, compile_cache
from services.coordinator.queue import utcnow
from services.coordinator.settlement import Settlements
from services.coordinator.submit import _queued, spec_to_json

CONTRACT = "outlayer.test"
REPO = "https://github.com/outlayer/echo-json"


def near_spec(request_id: int, sender: str, repo: str = REPO, built: bool = False) -> pb.JobSpec:
    spec = pb.JobSpec(
        origin=pb.JobOrigin(near=pb.NearRequest(
            contract_id=CONTRACT, request_id=request_id, sender_id=sender, network_id="test",
            payment_yocto=str(10**22), receipt_id=f"receipt{request_id}", block_height=7,
        )),
        code_source=pb.CodeSource(repo=repo, commit="1" * 40),
        wasm_sha256="a" * 64,
        build_started=built,
    )  # fmt: skip
    if built:
        spec.compile_ms = 1200
    return spec


def submit(engine: Engine, queue: JobQueue, spec: pb.JobSpec) -> int:
    job_id = queue.enqueue(_queued(spec, job_key(spec.origin)))
    record_submitted(engine, job_id, spec)
    record_submitted(engine, job_id, spec)  # a resubmission changes nothing
    return job_id


def finish(queue: JobQueue, result: ExecutionResult) -> int:
    leased = queue.lease("w")
    assert leased is not None
    queue.complete(leased.id, "w", result.to_json())
    return leased.id


def test_a_sender_s_requests_newest_first_with_filters_and_pages(engine: Engine) -> None:
    queue = JobQueue(engine)
    used = {"instructions": 5, "time_ms": 2}
    ok = ExecutionResult.from_json(
        {"status": "success", "output": {"status": "failed"}, "logs": "secret guest log",
         "resources_used": used}
    )  # fmt: skip
    broken = ExecutionResult.failure(ExecutionErrorType.RUNTIME_ERROR, "trap", ResourcesUsed(9, 1))
    first = submit(engine, queue, near_spec(1, "alice.test"))
    finish(queue, ok)
    submit(engine, queue, near_spec(2, "alice.test", repo="https://github.com/x/y"))
    finish(queue, broken)
    submit(engine, queue, near_spec(3, "alice.test"))  # still queued
    submit(engine, queue, near_spec(4, "bob.test"))

    listed = chain_requests(engine, "alice.test", status="", repo="", cursor="", limit=0)
    assert [r.request_id for r in listed.requests] == [3, 2, 1]
    assert [r.status for r in listed.requests] == ["queued", "failed", "success"]
    failed = listed.requests[1]
    assert failed.error_type == "runtime_error" and failed.resources_used.instructions == 9
    assert listed.requests[2].payment == str(10**22) and listed.requests[2].completed_at_unix > 0
    assert "secret guest log" not in str(listed)  # logs never go on chain, nor here

    def ids(**filters: str) -> list[int]:
        args = {"status": "", "repo": "", "cursor": "", **filters}
        found = chain_requests(engine, "alice.test", limit=0, **args)
        return [r.request_id for r in found.requests]

    # "status": "failed" inside a successful output does not make it a failure
    assert ids(status="success") == [1] and ids(status="failed") == [2]
    assert (
        ids(status="pending") == [3] and ids(status="queued") == [3] and ids(status="running") == []
    )
    assert ids(repo="https://github.com/x/y") == [2]

    pages, cursor = [], ""
    while True:
        page = chain_requests(engine, "alice.test", status="", repo="", cursor=cursor, limit=2)
        pages.append([r.request_id for r in page.requests])
        cursor = page.next_cursor
        if not cursor:
            break
    assert pages == [[3, 2], [1]]

    # The indexer's acknowledgement: the resolve transaction and the fee it kept.
    record_resolved(engine, first, "9sV2hd6GQ1uP8bTz8Z4CuY3vU9fCz2sE7EqyUu6jpBn", "1234")
    assert queue.acknowledge(first).settled
    detail = chain_request(engine, 1, "")
    assert detail.resolved and detail.resolve_tx_hash.startswith("9sV2hd6")
    assert detail.charged == "1234" and json.loads(detail.output_json) == {"status": "failed"}
    assert not detail.built and detail.wasm_sha256 == "a" * 64 and detail.receipt_id == "receipt1"
    assert chain_request(engine, 2, CONTRACT).output_json == ""  # failed: no output on chain


def test_the_compile_step_and_cache_figures(engine: Engine) -> None:
    queue = JobQueue(engine)
    submit(engine, queue, near_spec(1, "alice.test", built=True))
    finish(queue, ExecutionResult.from_json({"status": "success", "output": 1,
                                             "resources_used": {"compile_ms": 1200}}))  # fmt: skip
    submit(engine, queue, near_spec(2, "alice.test"))
    detail = chain_request(engine, 1, "")
    assert detail.built and detail.resources_used.compile_ms == 1200
    assert not chain_request(engine, 2, "").built
    figures = compile_cache(engine, None, "no compiler here")
    assert not figures.available and figures.reason == "no compiler here"
    assert (figures.builds, figures.build_ms, figures.hits) == (1, 1200, 1)


@pytest.mark.parametrize(
    ("sender", "args", "needle"),
    [
        ("", {}, "sender is required"),
        ("Not An Account", {}, "must be a NEAR account id"),
        ("a", {}, "must be a NEAR account id"),
        ("alice.test", {"status": "lost"}, "status is one of"),
        ("alice.test", {"cursor": "abc"}, "cursor is not one"),
        ("alice.test", {"cursor": "9" * 40}, "cursor is not one"),
        ("alice.test", {"limit": 101}, "limit is at most 100"),
    ],
)
def test_bad_listing_inputs_are_refused_clearly(
    engine: Engine, sender: str, args: dict[str, object], needle: str
) -> None:
    given: dict[str, object] = {"status": "", "repo": "", "cursor": "", "limit": 0, **args}
    with pytest.raises(OutlayerError, match=needle) as refused:
        chain_requests(engine, sender, **given)  # type: ignore[arg-type]
    assert refused.value.code.value == "invalid_argument"


def test_an_unknown_request_is_not_found_and_a_contract_id_is_checked(engine: Engine) -> None:
    with pytest.raises(OutlayerError, match="no request 5") as missing:
        chain_request(engine, 5, "")
    assert missing.value.code.value == "not_found"
    with pytest.raises(OutlayerError, match="contract_id must be a NEAR account id"):
        chain_request(engine, 5, "BAD!")


def test_the_settlement_transaction_is_kept_on_the_batch_s_charges(engine: Engine) -> None:
    with Session(engine) as session, session.begin():
        for n in range(3):
            session.add(HttpsCharge(
                call_id=f"c{n}", key_id="k", key_owner="alice.test", key_nonce=1,
                project_owner="dev.test", project_name="echo", token_id="near", amount="0",
                fee="5", created_at=utcnow(),
            ))  # fmt: skip
    settlements = Settlements(engine)
    batch = settlements.claim(0, 2)
    ids = [e.ledger_id for e in batch.entries]
    assert settlements.record_transaction(ids, "TxHash1") == 2
    assert settlements.record_transaction([], "TxHash1") == 0
    with Session(engine) as session:
        charges = {c.call_id: c.settlement_tx for c in session.exec(select(HttpsCharge)).all()}
    assert charges == {"c0": "TxHash1", "c1": "TxHash1", "c2": None}


def test_resolve_attempts_are_kept_newest_first_and_bounded(engine: Engine) -> None:
    queue = JobQueue(engine)
    job = submit(engine, queue, near_spec(12, "erin.test"))
    hashes = [f"{n}".rjust(44, "A") for n in range(KEPT_ATTEMPTS + 3)]
    assert record_resolve_attempt(engine, job, hashes[0]) == []
    assert record_resolve_attempt(engine, job, hashes[1]) == [hashes[0]]
    assert record_resolve_attempt(engine, job, hashes[1]) == [hashes[0]]  # the same one again
    for tx_hash in hashes[2:]:
        record_resolve_attempt(engine, job, tx_hash)
    newest_first = hashes[::-1]
    assert record_resolve_attempt(engine, job, "B" * 44) == newest_first[:KEPT_ATTEMPTS]
    assert record_resolve_attempt(engine, 999, "B" * 44) == []  # no such request: nothing kept


def test_requests_queued_before_the_migration_are_listed(database_url: str) -> None:
    """Migration 0011 fills chain_requests from the near jobs already there."""
    engine = make_engine(database_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0010")
    spec = near_spec(9, "carol.test")
    with engine.begin() as connection:
        connection.execute(
            text("INSERT INTO jobs (dedupe_key, kind, status, priority, spec_json, attempts, "
                 "max_attempts, created_at) VALUES (:key, 'near', 'queued', 0, :spec, 0, 3, :now)"),
            {"key": job_key(spec.origin), "spec": json.dumps(spec_to_json(spec)), "now": utcnow()},
        )  # fmt: skip
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    listed = chain_requests(engine, "carol.test", status="", repo="", cursor="", limit=0)
    assert [(r.request_id, r.status, r.code_repo) for r in listed.requests] == [(9, "queued", REPO)]
    engine.dispose()
