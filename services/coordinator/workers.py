"""Worker registration and bearer-token authentication (tokens are stored only as SHA-256)."""

from __future__ import annotations

import hashlib
import secrets
import threading
import time

from sqlalchemy import Engine
from sqlmodel import Session, select

from outlayer.errors import ErrorCode, OutlayerError
from services.coordinator.models import Worker
from services.coordinator.queue import utcnow

TOKEN_PREFIX = "olw_"
# A worker authenticates on every lease, heartbeat and completion: a token seen valid is
# trusted this long before the database is asked again. A revocation takes effect at once on
# this coordinator (revoke_worker clears the cache) and within this time on other replicas.
TRUSTED_FOR_S = 5.0
_trusted: dict[str, tuple[str, float]] = {}  # token digest -> (worker, trusted until)
_trusted_lock = threading.Lock()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def register_worker(engine: Engine, name: str) -> str:
    """Creates a worker and returns its token: shown once, never stored in clear."""
    if not name or len(name) > 200:
        raise OutlayerError(ErrorCode.INVALID_ARGUMENT, "a worker name is 1 to 200 characters")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with Session(engine) as session, session.begin():
        if session.exec(select(Worker).where(Worker.name == name)).first() is not None:
            raise OutlayerError(ErrorCode.INVALID_ARGUMENT, f"a worker named {name!r} exists")
        session.add(Worker(name=name, token_sha256=_digest(token), created_at=utcnow()))
    return token


def revoke_worker(engine: Engine, name: str) -> None:
    with Session(engine) as session, session.begin():
        worker = session.exec(select(Worker).where(Worker.name == name)).first()
        if worker is None:
            raise OutlayerError(ErrorCode.NOT_FOUND, f"no worker named {name!r}")
        worker.revoked = True
        session.add(worker)
    with _trusted_lock:
        _trusted.clear()


def authenticate(engine: Engine, authorization: str | None) -> str:
    """The worker's name for an ``authorization: Bearer <token>`` header, or UNAUTHENTICATED."""
    if not authorization or not authorization.startswith("Bearer "):
        raise OutlayerError(
            ErrorCode.UNAUTHENTICATED,
            "workers must send `authorization: Bearer <token>` (see `outlayer coordinator "
            "add-worker`)",
        )
    digest = _digest(authorization[len("Bearer ") :].strip())
    now = time.monotonic()
    with _trusted_lock:
        name, until = _trusted.get(digest, ("", 0.0))
    if until > now:
        return name
    with Session(engine) as session:
        worker = session.exec(select(Worker).where(Worker.token_sha256 == digest)).first()
    if worker is None or worker.revoked:
        raise OutlayerError(ErrorCode.UNAUTHENTICATED, "unknown or revoked worker token")
    with _trusted_lock:
        _trusted[digest] = (worker.name, now + TRUSTED_FOR_S)
    return worker.name
