"""Following blocks into jobs, and finished jobs back onto the chain."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

import grpc

from outlayer.errors import ExecutionErrorType, OutlayerError
from outlayer.near.keys import Signer
from outlayer.near.rpc import NearRpc
from outlayer.result import ExecutionResult
from outlayer.v1 import coordinator_pb2 as pb
from outlayer.v1 import coordinator_pb2_grpc, execution_pb2
from services.indexer.cursor import Cursor
from services.indexer.events import RequestEvent
from services.indexer.feed import RequestFeed

log = logging.getLogger("outlayer.indexer")

MAX_ON_CHAIN_OUTPUT = 16 * 1024  # the contract's caps (contract/outlayer/contract.py)
MAX_ON_CHAIN_DEPTH = 64  # deeper JSON would overflow the contract's (MicroPython) stack
GONE = (
    "does not exist (or was already settled)",
    "was already resolved",
    "can no longer be resumed",
)
FORMATS = {
    "text": execution_pb2.RESPONSE_FORMAT_TEXT,
    "json": execution_pb2.RESPONSE_FORMAT_JSON,
    "bytes": execution_pb2.RESPONSE_FORMAT_BYTES,
}


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
        cursor: Cursor,
        start_height: int | None = None,
        block_seconds: float = 1.0,
    ) -> None:
        self._block_seconds = block_seconds
        self._feed = feed
        self._coordinator = coordinator
        self._rpc = rpc
        self._operator = operator
        self._chain = chain
        self._cursor = cursor
        self._start_height = start_height

    # --- blocks → jobs --------------------------------------------------------------------------
    def follow_once(self) -> int:
        """Queues the requests of every new final block; returns how many blocks it read."""
        last = self._cursor.load()
        head = self._feed.last_final_height()
        if last is None:
            last = (self._start_height - 1) if self._start_height is not None else head - 1
        read = 0
        for height in range(last + 1, head + 1):
            for event in self._feed.requests_at(height) or []:
                self._submit(event, head)
            self._cursor.save(height)  # only after the whole block is queued
            read += 1
        return read

    def _submit(self, event: RequestEvent, head: int) -> None:
        data = event.data
        limits = data.get("resource_limits") or {}
        source = data.get("code_source") or {}
        spec = pb.JobSpec(
            kind="near",
            dedupe_key=f"near:{self._chain.contract_id}:{event.request_id}",
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
            response_format=FORMATS.get(str(data.get("response_format")), FORMATS["text"]),
            platform_env=self._platform_env(event),
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
        log.info("request %s → job %s (new: %s)", event.request_id, reply.job_id, reply.created)

    def _platform_env(self, event: RequestEvent) -> dict[str, str]:
        data = event.data
        limits = data.get("resource_limits") or {}
        return {
            "OUTLAYER_EXECUTION_TYPE": "NEAR",
            "NEAR_NETWORK_ID": self._chain.network_id,
            "NEAR_SENDER_ID": str(data.get("sender_id", "")),
            "NEAR_USER_ACCOUNT_ID": str(data.get("sender_id", "")),
            "NEAR_CONTRACT_ID": self._chain.contract_id,
            "NEAR_BLOCK_HEIGHT": str(event.block_height),
            "NEAR_BLOCK_TIMESTAMP": str(event.block_timestamp_ns),
            # JSON-RPC cannot map a receipt back to its transaction; explorers resolve this id.
            "NEAR_TRANSACTION_HASH": event.receipt_id,
            "NEAR_REQUEST_ID": str(event.request_id),
            "NEAR_PAYMENT_YOCTO": str(data.get("payment", "0")),
            "ATTACHED_USD": str(data.get("attached_usd", "0")),
            "USD_PAYMENT": str(data.get("attached_usd", "0")),
            "OUTLAYER_CALL_ID": "",
            "NEAR_MAX_INSTRUCTIONS": str(limits.get("max_instructions", "")),
            "NEAR_MAX_MEMORY_MB": str(limits.get("max_memory_mb", "")),
            "NEAR_MAX_EXECUTION_SECONDS": str(limits.get("max_execution_seconds", "")),
            "OUTLAYER_PROJECT_OWNER": "",
            "OUTLAYER_PROJECT_NAME": "",
        }

    # --- jobs → chain ---------------------------------------------------------------------------
    def settle_once(self) -> int:
        """Resolves finished NEAR jobs on chain; returns how many it settled."""
        settled = 0
        unsettled = self._coordinator.ListUnsettledJobs(pb.ListUnsettledJobsRequest(kind="near"))
        for job in unsettled.jobs:
            prefix = f"near:{self._chain.contract_id}:"
            if not job.dedupe_key.startswith(prefix):
                continue  # another contract's job (a shared coordinator)
            request_id = int(job.dedupe_key[len(prefix) :])
            result = ExecutionResult.from_proto(job.result)
            outcome = self._rpc.function_call(
                self._operator, self._chain.contract_id, "resolve_execution",
                resolve_args(request_id, result, self._block_seconds),
            )  # fmt: skip
            failure = outcome.failure
            if failure is not None and not any(reason in failure for reason in GONE):
                log.warning("resolving request %s failed (will retry): %s", request_id, failure)
                continue
            if failure is not None:
                log.warning("request %s is already settled on chain: %s", request_id, failure)
            self._coordinator.AcknowledgeJob(pb.AcknowledgeJobRequest(job_id=job.job_id))
            settled += 1
        return settled

    def run_forever(self, stop: threading.Event, poll_s: float = 0.5) -> None:
        while not stop.is_set():
            try:
                self.follow_once()
                self.settle_once()
            except OutlayerError as exc:
                log.warning("%s; retrying", exc)
            except grpc.RpcError as exc:
                log.warning("coordinator unavailable (%s); retrying", exc.code())
            except Exception:
                log.exception("indexer loop failed; retrying")
            stop.wait(poll_s)


def _depth(value: Any) -> int:
    """How deeply JSON containers nest in ``value`` (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 1)] if isinstance(value, list | dict) else []
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, list | dict))
    return deepest


# NEAR resumes a yielded call within this many blocks; a resolve takes a few more to land.
YIELD_BLOCKS = 200
RESOLVE_BLOCKS = 20


def start_deadline(blocks_ago: int, limits: dict[str, Any], block_seconds: float) -> float:
    """The latest a job for a request made ``blocks_ago`` blocks before the final head may
    start (compile-then-run waits no longer): what is left of the yield window, less the run
    itself and the resolve. Counted in blocks from now: block timestamps need not be wall
    clock (localnet's are not)."""
    run_s = float(limits.get("max_execution_seconds") or 60)
    left_s = (YIELD_BLOCKS - RESOLVE_BLOCKS - blocks_ago) * block_seconds - run_s
    return time.time() + left_s if left_s > 0 else 0.0


def resolve_args(
    request_id: int, result: ExecutionResult, block_seconds: float = 1.0
) -> dict[str, Any]:
    """The arguments of resolve_execution for a result, within the contract's output cap."""
    error = result.error
    output = result.output
    success = result.ok
    # The contract refuses what it cannot deliver; such an output is resolved as failed, once,
    # instead of a resolve that would be refused (and retried) forever.
    if success and _depth(output) > MAX_ON_CHAIN_DEPTH:
        success, output = False, None
        error_json: dict[str, str] | None = {
            "type": "invalid_output",
            "message": f"the output is nested more than {MAX_ON_CHAIN_DEPTH} levels deep, the "
            "most a request can return on chain",
        }
    elif success and len(json.dumps(output)) > MAX_ON_CHAIN_OUTPUT:
        success, output = False, None
        error_json = {
            "type": "output_limit",
            "message": f"the output is larger than {MAX_ON_CHAIN_OUTPUT} bytes, the most a "
            "request can return on chain",
        }
    else:
        error_json = None if error is None else {"type": error.type.value, "message": error.message}
    used = result.resources_used
    compilation = None
    if error is not None and error.type is ExecutionErrorType.COMPILATION_IN_PROGRESS:
        # Fields a client contract can act on: when to send the request again, in blocks.
        progress = error.compilation
        retry_s = progress.retry_after_seconds if progress else 60.0
        compilation = {
            "estimated_seconds": math.ceil(progress.estimated_seconds) if progress else 0,
            "retry_after_blocks": math.ceil(retry_s / block_seconds),
            "cache_key": progress.cache_key if progress else "",
        }
    return {
        "request_id": request_id,
        "success": success,
        "output": output if success else None,
        "error": error_json,
        "resources_used": {
            "instructions": used.instructions,
            "time_ms": used.time_ms,
            "compile_ms": used.compile_ms,
        },
        "refund_usd": str(result.refund_usd if success else 0),
        "compilation": compilation,
    }
