"""What a request resolved on chain paid its project's owner, kept for the earnings history.

The contract pays a request's attached USD, less the guest's refund, to the project's owner
when the run succeeded (contract/README.md, the money rules). The indexer says when its
resolve was applied; the entry is written once per request.
"""

from __future__ import annotations

import json

from sqlalchemy import Engine
from sqlmodel import Session, select

from outlayer.result import ExecutionResult
from services.coordinator.models import EarningsEntry, Job
from services.coordinator.queue import utcnow
from services.coordinator.submit import spec_from_json


def record_request_earnings(engine: Engine, job_id: int) -> None:
    with Session(engine) as session, session.begin():
        job = session.get(Job, job_id)
        if job is None or job.result_json is None:
            return
        spec = spec_from_json(json.loads(job.spec_json))
        if spec.origin.WhichOneof("origin") != "near":
            return
        near = spec.origin.near
        result = ExecutionResult.from_json(json.loads(job.result_json))
        usd = int(near.attached_usd or "0")
        if usd <= 0 or not result.ok or not near.project_owner_id:
            return
        earned = usd - min(result.refund_usd, usd)
        if earned <= 0:
            return
        done = session.exec(
            select(EarningsEntry.id).where(
                EarningsEntry.source == "chain", EarningsEntry.request_id == near.request_id,
                EarningsEntry.owner == near.project_owner_id,
            )
        ).first()  # fmt: skip
        if done is not None:
            return
        session.add(EarningsEntry(
            owner=near.project_owner_id, call_id="", project=spec.code_source.repo,
            amount=str(earned), payer_key_id="", created_at=utcnow(),
            token_id=near.usd_token_id, source="chain", request_id=near.request_id,
        ))  # fmt: skip
