"""Worker tokens: checked against the database, trusted for a few seconds once seen valid, and
refused at once here after a revocation (within TRUSTED_FOR_S on other coordinators)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from outlayer.errors import ErrorCode, OutlayerError
from services.coordinator import workers
from services.coordinator.models import Worker
from services.coordinator.workers import authenticate, register_worker, revoke_worker


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_a_valid_token_names_its_worker_and_a_bad_one_is_refused(engine: Engine) -> None:
    token = register_worker(engine, "w1")
    assert authenticate(engine, bearer(token)) == "w1"
    for bad in (None, "", token, "Bearer olw_nope", "Basic " + token):
        with pytest.raises(OutlayerError) as refused:
            authenticate(engine, bad)
        assert refused.value.code is ErrorCode.UNAUTHENTICATED


def test_a_revocation_here_is_refused_at_once(engine: Engine) -> None:
    token = register_worker(engine, "w2")
    assert authenticate(engine, bearer(token)) == "w2"  # now trusted from memory
    revoke_worker(engine, "w2")
    with pytest.raises(OutlayerError, match="revoked"):
        authenticate(engine, bearer(token))


def test_another_coordinator_s_revocation_is_seen_when_the_trust_runs_out(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = register_worker(engine, "w3")
    clock = [1000.0]
    monkeypatch.setattr("services.coordinator.workers.time.monotonic", lambda: clock[0])
    assert authenticate(engine, bearer(token)) == "w3"
    with Session(engine) as session, session.begin():  # as a revocation on another replica
        row = session.exec(select(Worker).where(Worker.name == "w3")).one()
        row.revoked = True
        session.add(row)
    clock[0] += workers.TRUSTED_FOR_S / 2
    assert authenticate(engine, bearer(token)) == "w3"  # still within its trust
    clock[0] += workers.TRUSTED_FOR_S
    with pytest.raises(OutlayerError, match="revoked"):
        authenticate(engine, bearer(token))
