"""Following blocks into jobs, and finished jobs back onto the chain."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import grpc

from outlayer.errors import ErrorCode, OutlayerError
from outlayer.near.keys import Signer
from outlayer.near.rpc import NearRpc, NearRpcError, TxOutcome
from outlayer.origin import near_request_id
from outlayer.result import ExecutionResult, response_format_on_chain
from outlayer.v1 import coordinator_pb2 as pb
from outlayer.v1 import coordinator_pb2_grpc, execution_pb2
from services.indexer.cursor import CursorStore
from services.indexer.events import RequestEvent
from services.indexer.feed import RequestFeed

log = logging.getLogger("outlayer.indexer")

GONE = (
    "does not exist (or was already settled)",
    "was already resolved",
    "can no longer be resumed",
)


@dataclass(frozen=True)
class Chain:
    contract_id: str
    network_id: str


class Indexer:
    def __init__(
        self,
        feed: RequestFeed,
        coordinator: coordinator_pb2_grpc.CoordinatorServiceStub,
        *,
        rpc: NearRpc,
        operator: Signer,
        chain: Chain,
        cursor: CursorStore,
        start_height: int | None = None,
        block_seconds: float = 1.0,
        leading: Callable[[], bool] = lambda: True,
        settle_https_seconds: float = 0.0,
        settle_https_batch: int = 40,
    ) -> None:
        self._settle_every_s = settle_https_seconds
        self._settle_batch = settle_https_batch
        self._next_https_settlement = time.monotonic() + settle_https_seconds
        # Asked before each block and each resolve: a standby (or a leader that just lost its
        # lease) stops there (services/indexer/leader.py).
        self._leading = leading
        self._block_seconds = block_seconds
        self._feed = feed
        self._coordinator = coordinator
        self._rpc = rpc
        self._operator = operator
        self._chain = chain
        self._cursor = cursor
        self._start_height = start_height
        self._unsettled: set[int] = set()  # requests this loop queued and has not resolved
        self._submitted_at = 0.0  # when it last queued one (monotonic)

    # --- blocks → jobs --------------------------------------------------------------------------
    def follow_once(self) -> int:
        """Queues the requests of every new final block; returns how many blocks it read."""
        last = self._cursor.load()
        head = self._feed.last_final_height()
        if last is None:
            last = (self._start_height - 1) if self._start_height is not None else head - 1
        read = 0
        for height in range(last + 1, head + 1):
            if not self._leading():
                break
            block = self._feed.block_at(height)
            if block is not None:
                # Projects, payment keys, settlements, earnings; and at the head, the chain's
                # clock (payment keys expire by it), so one call per pass at least.
                if block.state or height == head:
                    self._coordinator.ApplyChainChanges(pb.ApplyChainChangesRequest(
                        contract_id=self._chain.contract_id, block_height=height,
                        block_timestamp_ns=block.timestamp_ns,
                        changes=[pb.ChainStateChange(key=c.key, value_json=c.value_json,
                                                     deleted=c.deleted) for c in block.state],
                    ))  # fmt: skip
                for event in block.requests:
                    self._submit(event, head)
            self._cursor.save(height)  # only after the whole block is queued and mirrored
            read += 1
        return read

    def _submit(self, event: RequestEvent, head: int) -> None:
        data = event.data
        limits = data.get("resource_limits") or {}
        source = data.get("code_source") or {}
        spec = pb.JobSpec(
            origin=pb.JobOrigin(near=self._origin(event)),
            code_source=pb.CodeSource(
                repo=source.get("repo", ""),
                commit=source.get("commit") or "",
                branch=source.get("branch") or "",
                tag=source.get("tag") or "",
            ),
            input=str(data.get("input_data") or "").encode(),
            limits=execution_pb2.ResourceLimits(
                max_instructions=int(limits.get("max_instructions", 0)),
                max_memory_mb=int(limits.get("max_memory_mb", 0)),
                max_execution_seconds=float(limits.get("max_execution_seconds", 0)),
            ),
            response_format=response_format_on_chain(data.get("response_format")),
            priority=int(data.get("payment", "0")) // 10**18,
            start_deadline_unix=start_deadline(
                head - event.block_height, limits, self._block_seconds
            ),
        )
        secrets_ref = data.get("secrets_ref")
        if isinstance(secrets_ref, dict) and secrets_ref.get("profile"):
            sender = str(data.get("sender_id", ""))
            spec.secrets_ref.CopyFrom(pb.SecretsRef(
                account_id=str(secrets_ref.get("account_id") or sender),
                profile=str(secrets_ref["profile"]), requester=sender,
                branch=str(source.get("branch") or ""),
            ))  # fmt: skip
        reply = self._coordinator.SubmitJob(pb.SubmitJobRequest(spec=spec))
        self._unsettled.add(event.request_id)
        self._submitted_at = time.monotonic()
        log.info("request %s → job %s (new: %s)", event.request_id, reply.job_id, reply.created)

    def _origin(self, event: RequestEvent) -> pb.NearRequest:
        data = event.data
        return pb.NearRequest(
            contract_id=self._chain.contract_id,
            request_id=event.request_id,
            network_id=self._chain.network_id,
            sender_id=str(data.get("sender_id", "")),
            block_height=event.block_height,
            block_timestamp_ns=event.block_timestamp_ns,
            receipt_id=event.receipt_id,
            payment_yocto=str(data.get("payment", "0")),
            attached_usd=str(data.get("attached_usd", "0")),
            usd_token_id=str(data.get("usd_token_id") or ""),
            project_owner_id=str(data.get("project_owner_id") or ""),
        )

    # --- jobs → chain ---------------------------------------------------------------------------
    def settle_once(self) -> int:
        """Resolves finished NEAR jobs on chain; returns how many it settled."""
        settled = 0
        unsettled = self._coordinator.ListUnsettledJobs(pb.ListUnsettledJobsRequest(kind="near"))
        for job in unsettled.jobs:
            if not self._leading():
                break
            request_id = near_request_id(job.dedupe_key, self._chain.contract_id)
            if request_id is None:
                continue  # another contract's job (a shared coordinator)
            # A job with resolves signed already was being settled before a restart (or by the
            # indexer this one took over from): if one of them landed, nothing is sent again.
            checked = list(job.resolve_tx_hashes)
            try:
                landed = self._earlier_resolve(checked, request_id)
            except OutlayerError as exc:  # cannot tell yet: nothing sent, a later pass looks
                log.warning("request %s: %s (will retry)", request_id, exc)
                continue
            if landed is not None:
                log.info("request %s was resolved by %s", request_id, landed.tx_hash)
                self._acknowledge(job.job_id, request_id, landed)
                settled += 1
                continue
            result = ExecutionResult.from_proto(job.result)
            outcome, earlier = self._send_resolve(job.job_id, request_id, result)
            failure = outcome.failure
            if failure is not None and not any(reason in failure for reason in GONE):
                log.warning("resolving request %s failed (will retry): %s", request_id, failure)
                continue
            if failure is not None:
                # Refused as settled: by a resolve recorded after the list was read, perhaps.
                newer = [tx_hash for tx_hash in earlier if tx_hash not in checked]
                try:
                    landed = self._earlier_resolve(newer, request_id)
                except OutlayerError as exc:  # cannot tell yet: acknowledged on a later pass
                    log.warning("request %s: %s (will retry)", request_id, exc)
                    continue
                if landed is None:
                    log.warning("request %s is already settled on chain: %s", request_id, failure)
                else:
                    log.info("request %s was resolved by %s", request_id, landed.tx_hash)
                    outcome, failure = landed, None
            self._acknowledge(job.job_id, request_id, outcome if failure is None else None)
            settled += 1
        return settled

    def _acknowledge(self, job_id: int, request_id: int, resolve: TxOutcome | None) -> None:
        """Tells the coordinator the job is settled, with the transaction that put its result
        on chain and the fee its event says it kept (the request's public listing shows both);
        ``None``: settled without it (already settled or timed out on chain)."""
        self._coordinator.AcknowledgeJob(pb.AcknowledgeJobRequest(
            job_id=job_id, resolved_on_chain=resolve is not None,
            resolve_tx_hash=resolve.tx_hash if resolve is not None else "",
            charged=charged_by(resolve.logs, request_id) if resolve is not None else "",
        ))  # fmt: skip
        self._unsettled.discard(request_id)

    def _send_resolve(
        self, job_id: int, request_id: int, result: ExecutionResult
    ) -> tuple[TxOutcome, list[str]]:
        """Sends resolve_execution, recorded with the coordinator before it is sent (so a
        restart before AcknowledgeJob still finds it); returns its outcome and the job's
        earlier attempts, newest first."""
        earlier: list[str] = []

        def record_attempt(tx_hash: str) -> None:
            recorded = self._coordinator.RecordResolveAttempt(
                pb.RecordResolveAttemptRequest(job_id=job_id, tx_hash=tx_hash)
            )
            earlier.extend(recorded.earlier_tx_hashes)

        outcome = self._rpc.function_call(
            self._operator, self._chain.contract_id, "resolve_execution",
            result.to_resolve_args(request_id, self._block_seconds),
            before_sending=record_attempt,
        )  # fmt: skip
        return outcome, earlier

    def _earlier_resolve(self, earlier: list[str], request_id: int) -> TxOutcome | None:
        """Which of this indexer's earlier resolve transactions for the request put its
        result on chain, if one did. Raises OutlayerError when that cannot be told yet (the
        node unreachable or busy, or one of them not final yet)."""
        for tx_hash in earlier:
            try:
                outcome = self._rpc.tx_status(tx_hash, self._operator.account_id)
            except NearRpcError as exc:
                if exc.cause == "UNKNOWN_TRANSACTION":
                    continue  # never landed: dropped, expired, or never sent at all
                raise
            if outcome.raw.get("final_execution_status") != "FINAL":
                raise OutlayerError(ErrorCode.UNAVAILABLE,
                                    f"its earlier resolve {tx_hash} is not final yet")  # fmt: skip
            if self._resolved_by(outcome, request_id):
                return outcome
        return None

    def _resolved_by(self, outcome: TxOutcome, request_id: int) -> bool:
        """The transaction is our operator's resolve_execution on our contract, it succeeded,
        and the contract's own receipts say it completed this request."""
        transaction = outcome.raw.get("transaction") or {}
        actions = transaction.get("actions") or [{}]
        call = actions[0].get("FunctionCall") if isinstance(actions[0], dict) else None
        contract = self._chain.contract_id
        contract_logs = [
            line
            for receipt in outcome.raw.get("receipts_outcome") or []
            if receipt.get("outcome", {}).get("executor_id") == contract
            for line in receipt["outcome"].get("logs") or []
        ]
        return (
            outcome.failure is None
            and transaction.get("signer_id") == self._operator.account_id
            and transaction.get("receiver_id") == contract
            and isinstance(call, dict)
            and call.get("method_name") == "resolve_execution"
            and _completed(contract_logs, request_id) is not None
        )

    # --- HTTPS usage → chain -------------------------------------------------------------------
    def settle_https_once(self) -> int:
        """Sends the next batch of HTTPS charges to settle_https_usage; returns how many
        entries the contract applied (0: nothing to settle, or refused: retried later)."""
        state = self._rpc.view(self._chain.contract_id, "get_https_settlement")
        batch = self._coordinator.ClaimSettlementBatch(pb.ClaimSettlementBatchRequest(
            chain_last_ledger_id=int(state["last_ledger_id"]), max_entries=self._settle_batch,
        ))  # fmt: skip
        if not batch.entries or not self._leading():
            return 0
        entries = [
            {"ledger_id": e.ledger_id, "key_owner": e.key_owner, "key_nonce": e.key_nonce,
             "owner": e.owner, "project": e.project, "amount": e.amount, "fee": e.fee}
            for e in batch.entries
        ]  # fmt: skip
        outcome = self._rpc.function_call(
            self._operator, self._chain.contract_id, "settle_https_usage",
            {"batch_id": batch.batch_id, "entries": entries},
        )  # fmt: skip
        if outcome.failure is not None:
            log.warning("settling HTTPS usage %s failed (retried in %g s): %s",
                        batch.batch_id, self._settle_every_s, outcome.failure)  # fmt: skip
            return 0
        log.info("settled HTTPS usage on chain: %s (%d entries) in %s", batch.batch_id,
                 len(entries), outcome.tx_hash)  # fmt: skip
        try:  # which transaction carried it, for the executions' listings (best effort)
            self._coordinator.RecordSettlementTransaction(pb.RecordSettlementTransactionRequest(
                ledger_ids=[e.ledger_id for e in batch.entries], tx_hash=outcome.tx_hash,
            ))  # fmt: skip
        except grpc.RpcError as exc:
            log.warning("could not record settlement %s's transaction %s: %s", batch.batch_id,
                        outcome.tx_hash, exc.code())  # fmt: skip
        return len(entries)

    def _settle_https_when_due(self) -> int:
        if not self._settle_every_s or time.monotonic() < self._next_https_settlement:
            return 0
        self._next_https_settlement = time.monotonic() + self._settle_every_s
        return self.settle_https_once()

    def run_forever(self, stop: threading.Event, poll_s: float = 0.5) -> None:
        """Follows blocks every ``poll_s``; while requests it queued in the last few seconds
        are running, it looks for their results every SETTLE_POLL_S in between, so a cached
        module's result is resolved well within the block after its request's."""
        while not stop.is_set():
            next_follow = time.monotonic() + poll_s
            self._guarded(self.follow_once)
            self._guarded(self.settle_once)
            self._guarded(self._settle_https_when_due)
            while time.monotonic() < next_follow and not stop.is_set():
                running = self._submitted_at > time.monotonic() - FAST_SETTLE_S
                if not (running and self._unsettled):
                    stop.wait(max(next_follow - time.monotonic(), 0))
                    break
                stop.wait(min(SETTLE_POLL_S, max(next_follow - time.monotonic(), 0)))
                self._guarded(self.settle_once)

    def _guarded(self, step: Callable[[], int]) -> None:
        try:
            step()
        except OutlayerError as exc:
            log.warning("%s; retrying", exc)
        except grpc.RpcError as exc:
            log.warning("coordinator unavailable (%s); retrying", exc.code())
        except Exception:
            log.exception("indexer loop failed; retrying")


# While requests queued in the last FAST_SETTLE_S are running, results are looked for this often.
SETTLE_POLL_S = 0.05
FAST_SETTLE_S = 10.0
# NEAR resumes a yielded call within this many blocks; a resolve takes a few more to land.
YIELD_BLOCKS = 200
RESOLVE_BLOCKS = 20


def charged_by(logs: list[str], request_id: int) -> str:
    """The fee resolve_execution kept (yoctoNEAR), from its execution_completed event; "" when
    the logs do not say."""
    completed = _completed(logs, request_id)
    charged = str(completed.get("charged", "")) if completed is not None else ""
    return charged if charged.isdigit() else ""


def _completed(logs: list[str], request_id: int) -> dict[str, Any] | None:
    """The request's execution_completed event in a resolve's logs (None: not there)."""
    for line in logs:
        if not line.startswith(EVENT_PREFIX):
            continue
        try:
            event = json.loads(line[len(EVENT_PREFIX) :])
        except ValueError:
            continue
        if not isinstance(event, dict) or event.get("event") != "execution_completed":
            continue
        for data in event.get("data") or []:
            if isinstance(data, dict) and str(data.get("request_id")) == str(request_id):
                return data
    return None


EVENT_PREFIX = "EVENT_JSON:"


def start_deadline(blocks_ago: int, limits: dict[str, Any], block_seconds: float) -> float:
    """The latest a job for a request made ``blocks_ago`` blocks before the final head may
    start (compile-then-run waits no longer): what is left of the yield window, less the run
    itself and the resolve. Counted in blocks from now: block timestamps need not be wall
    clock (the tests' in-process chains run one second a block)."""
    run_s = float(limits.get("max_execution_seconds") or 60)
    left_s = (YIELD_BLOCKS - RESOLVE_BLOCKS - blocks_ago) * block_seconds - run_s
    return time.time() + left_s if left_s > 0 else 0.0
