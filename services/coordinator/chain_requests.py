"""Requests made on chain, by sender: the rows their public listing is read by.

A request's job is found by its queue key; what the listing needs to find it by (who sent it)
sits in the job's spec, so the coordinator keeps it beside the job when the indexer queues the
request, and adds the resolve_execution transaction that delivered its result (and the fee it
charged) when the indexer acknowledges it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from outlayer.v1 import coordinator_pb2 as pb
from services.coordinator.models import ChainRequest
from services.coordinator.queue import utcnow

# NEAR transaction hashes are 32 bytes in base58: at most 44 characters.
MAX_TX_HASH = 64
# A request's resolve attempts kept (newest first): a resolve is retried only when the chain
# refused one or its answer was lost, so a request rarely has more than one or two.
KEPT_ATTEMPTS = 8


def record_submitted(engine: Engine, job_id: int, spec: pb.JobSpec) -> None:
    """Keeps a request's sender and source beside its job (once: a resubmission changes
    nothing)."""
    if spec.origin.WhichOneof("origin") != "near":
        return
    near = spec.origin.near
    try:
        with Session(engine) as session, session.begin():
            if session.get(ChainRequest, job_id) is not None:
                return
            session.add(ChainRequest(
                job_id=job_id, contract_id=near.contract_id, request_id=near.request_id,
                sender=near.sender_id, code_repo=spec.code_source.repo, created_at=utcnow(),
            ))  # fmt: skip
    except IntegrityError:  # another replica recorded it first
        return


def record_resolve_attempt(engine: Engine, job_id: int, tx_hash: str) -> list[str]:
    """Records a resolve_execution transaction signed for the job's request, before it is
    sent; returns the attempts recorded before it, newest first (none for a job not made on
    chain)."""
    with Session(engine) as session, session.begin():
        row = session.get(ChainRequest, job_id, with_for_update=True)
        if row is None:
            return []
        earlier = [h for h in (row.resolve_attempts or "").split() if h != tx_hash]
        row.resolve_attempts = " ".join([tx_hash, *earlier][:KEPT_ATTEMPTS])
        session.add(row)
        return earlier


def resolve_attempts(engine: Engine, job_ids: Sequence[int]) -> dict[int, list[str]]:
    """The resolve transactions recorded for these jobs, newest first (jobs without any are
    left out)."""
    if not job_ids:
        return {}
    with Session(engine) as session:
        rows = session.exec(
            select(ChainRequest.job_id, ChainRequest.resolve_attempts).where(
                col(ChainRequest.job_id).in_(list(job_ids))
            )
        ).all()
    return {job_id: attempts.split() for job_id, attempts in rows if attempts}


def record_resolved(engine: Engine, job_id: int, tx_hash: str, charged: str) -> None:
    """The resolve_execution transaction that put the request's result on chain."""
    if not tx_hash and not charged:
        return
    with Session(engine) as session, session.begin():
        row = session.get(ChainRequest, job_id)
        if row is None:
            return
        if tx_hash:
            row.resolve_tx = tx_hash[:MAX_TX_HASH]
        if charged.isdigit():
            row.charged = charged
        session.add(row)
