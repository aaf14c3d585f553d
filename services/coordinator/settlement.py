"""Batches of HTTPS charges for the chain (the contract's settle_https_usage).

A charge gets its ledger id when it joins a batch, under one lock, so ids rise in the order
batches go out whatever order charges committed in, and a batch is given again, with the same
ids, until the chain shows it applied (``hus.last_ledger_id``, read by the indexer before it
asks): a batch sent twice is refused by the contract and changes nothing. The mirror
(chain_mirror.py) marks charges settled when the block that applied them is final.

A charge whose payment key was deleted on chain before it was settled cannot be collected
(the contract refunded the key's balance to its owner): it is written off, logged, and its
owner's HTTPS earnings entry shows it so.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, func, update
from sqlmodel import Session, col, select

from outlayer.v1 import coordinator_pb2 as pb
from services.coordinator.models import ChargeState, HttpsCharge, PaymentKey

log = logging.getLogger("outlayer.coordinator.settlement")
MAX_BATCH = 40  # the contract's cap on entries per settle_https_usage
MAX_TX_HASH = 64  # a NEAR transaction hash: 32 bytes in base58 (at most 44 characters)


class Settlements:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def claim(self, chain_last_ledger_id: int, max_entries: int = MAX_BATCH) -> pb.SettlementBatch:
        """The next batch to send: one sent before and not applied yet (the same ids), or the
        oldest unsettled charges with new ids above everything given so far."""
        size = min(max(max_entries, 1), MAX_BATCH)
        with Session(self._engine, expire_on_commit=False) as session, session.begin():
            # One claimer at a time (the leading indexer; a second would wait here).
            open_charges = session.exec(
                select(HttpsCharge)
                .where(HttpsCharge.state == ChargeState.UNSETTLED)
                .order_by(col(HttpsCharge.id))
                .with_for_update()
            ).all()
            # Ids rise above every id ever given, so a batch given anew never reuses one.
            top = max(session.exec(select(func.max(HttpsCharge.ledger_id))).one() or 0,
                      chain_last_ledger_id)  # fmt: skip
            # Those the chain applied already (the mirror marks them settled when it reaches that
            # block) are not ours to send again or to write off.
            last = chain_last_ledger_id
            open_charges = [c for c in open_charges if c.ledger_id is None or c.ledger_id > last]
            deleted = _deleted_keys(session, {c.key_id for c in open_charges})
            sent = [c for c in open_charges if c.ledger_id is not None]
            lost = [c for c in open_charges if c.key_id in deleted]
            if lost:
                self._write_off(session, lost)
                if any(c.key_id in deleted for c in sent):
                    # The batch that was sent names a deleted key, so the contract refuses it:
                    # its other charges go out again in a new batch.
                    for charge in sent:
                        if charge.key_id not in deleted:
                            charge.ledger_id = None
                            session.add(charge)
                    session.flush()
                    sent = []
                open_charges = [c for c in open_charges if c.key_id not in deleted]
            if sent:
                batch = sorted(sent, key=lambda c: c.ledger_id or 0)[:size]
            else:
                next_id = int(top) + 1
                batch = [c for c in open_charges if c.ledger_id is None][:size]
                for offset, charge in enumerate(batch):
                    charge.ledger_id = next_id + offset
                    session.add(charge)
            entries = [
                pb.SettlementEntry(
                    ledger_id=c.ledger_id or 0, key_owner=c.key_owner, key_nonce=c.key_nonce,
                    owner=c.project_owner, project=c.project_name, amount=c.amount, fee=c.fee,
                )
                for c in batch
            ]  # fmt: skip
        batch_id = f"https-{entries[0].ledger_id}-{entries[-1].ledger_id}" if entries else ""
        return pb.SettlementBatch(entries=entries, batch_id=batch_id)

    def record_transaction(self, ledger_ids: list[int], tx_hash: str) -> int:
        """The settle_https_usage transaction that carried these entries (the contract applied
        it): kept on their charges, for the executions' listings. Returns how many it marked."""
        if not ledger_ids or not tx_hash:
            return 0
        with Session(self._engine) as session, session.begin():
            touched = session.exec(
                update(HttpsCharge)
                .where(col(HttpsCharge.ledger_id).in_(ledger_ids))
                .values(settlement_tx=tx_hash[:MAX_TX_HASH])
            ).rowcount
        return int(touched)

    def _write_off(self, session: Session, charges: list[HttpsCharge]) -> None:
        for charge in charges:
            log.warning(
                "HTTPS charge of call %s (%s + %s %s) written off: payment key %s/%d was "
                "deleted on chain before it was settled",
                charge.call_id, charge.amount, charge.fee, charge.token_id, charge.key_owner,
                charge.key_nonce,
            )  # fmt: skip
            charge.state = ChargeState.WRITTEN_OFF
            charge.ledger_id = None
            session.add(charge)
            session.exec(
                update(PaymentKey)
                .where(col(PaymentKey.key_id) == charge.key_id)
                .values(unsettled="0")
            )


def _deleted_keys(session: Session, key_ids: set[str]) -> set[str]:
    if not key_ids:
        return set()
    rows = session.exec(
        select(PaymentKey.key_id).where(
            col(PaymentKey.key_id).in_(key_ids), col(PaymentKey.deleted).is_(True)
        )
    ).all()
    return set(rows)
