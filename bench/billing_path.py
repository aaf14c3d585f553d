"""What paying for one HTTPS call costs the coordinator: the hold before the job is queued and
the settlement after it finished, on SQLite and on PostgreSQL.

Each call is held on a payment key (an operator's key and an on-chain key, whose charges also
become ledger rows to settle on chain), its job queued, leased and completed, then settled, as
the public API does; the figures are the hold and the settlement alone, in CPU time of this
process (the coordinator's share) and wall time per call. Prints the median of ``--runs``.

    python -m bench.billing_path [--calls 500] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid

from sqlalchemy import Engine

from bench.queue_throughput import database
from outlayer.config import CoordinatorSettings
from outlayer.v1 import coordinator_pb2 as pb
from services.coordinator.billing import Billing, call_job_key
from services.coordinator.chain_mirror import ChainMirror, chain_key_id
from services.coordinator.database import make_engine, migrate
from services.coordinator.models import Call
from services.coordinator.queue import JobQueue, JobSpec, utcnow

RESULT = {"status": "success", "resources_used": {"instructions": 20000, "time_ms": 1}}


def _keys(billing: Billing, engine: Engine) -> dict[str, str]:
    operator, _ = billing.create_key("bench.near", 10**30, "usdc.bench")
    mirror = ChainMirror(engine)
    record = {"owner": "chain.bench", "nonce": 1, "key_hash": "ab" * 32, "token_id": "usdc.bench",
              "balance": str(10**30), "max_per_call": None, "allowed_projects": None,
              "expires_at": None, "created_at": 1}  # fmt: skip
    mirror.apply([pb.ChainStateChange(key="pk:chain.bench:1", value_json=json.dumps(record))])
    return {"operator": operator.key_id, "on_chain": chain_key_id("chain.bench", 1)}


def measure(url: str, calls: int) -> dict[str, tuple[float, float, float, float]]:
    """Per kind of key: (hold CPU ms, hold wall ms, settle CPU ms, settle wall ms) per call."""
    engine = make_engine(url)
    migrate(engine)
    queue = JobQueue(engine)
    billing = Billing(engine, queue, CoordinatorSettings())
    figures = {}
    for kind, key_id in _keys(billing, engine).items():
        hold_cpu = hold_wall = settle_cpu = settle_wall = 0.0
        for _ in range(calls):
            call_id = uuid.uuid4().hex
            call = Call(call_id=call_id, key_id=key_id, owner="dev.bench", project="echo",
                        job_id=0, hold="100000", max_cost="90000", attached_deposit="1000",
                        created_at=utcnow(), token_id="usdc.bench")  # fmt: skip
            cpu, wall = time.process_time(), time.perf_counter()
            billing.hold(key_id, call)
            hold_cpu += time.process_time() - cpu
            hold_wall += time.perf_counter() - wall
            job_id = queue.enqueue(JobSpec(call_job_key(call_id), "https", {}))
            leased = queue.lease("w")
            assert leased is not None and leased.id == job_id
            state = queue.complete(job_id, "w", RESULT)
            finished = queue.get(job_id)
            assert state is not None and finished is not None
            cpu, wall = time.process_time(), time.perf_counter()
            settled = billing.settle(call_id, finished)
            settle_cpu += time.process_time() - cpu
            settle_wall += time.perf_counter() - wall
            assert settled is not None and settled.charged > 0
        ms = 1000 / calls
        figures[kind] = (hold_cpu * ms, hold_wall * ms, settle_cpu * ms, settle_wall * ms)
    engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print("database    key       hold CPU ms  hold wall ms  settle CPU ms  settle wall ms")
    for kind in ("sqlite", "postgresql"):
        runs = []
        for _ in range(args.runs):
            with database(kind) as url:
                runs.append(measure(url, args.calls))
        for key in runs[0]:
            cols = [statistics.median(r[key][i] for r in runs) for i in range(4)]
            print(f"{kind:<11} {key:<9} {cols[0]:11.2f} {cols[1]:13.2f} {cols[2]:14.2f} "
                  f"{cols[3]:15.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
