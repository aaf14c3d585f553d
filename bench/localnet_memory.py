"""localnet's memory over many contract calls: RSS before and after (docs/performance.md).

Each call runs the nearc-built OutLayer contract under wasmtime (a view, a request and its
resolve, in turn); a VM that kept each call's store alive would grow by megabytes per call.
``python -m bench.localnet_memory [CALLS]`` (10,000 by default).
"""

from __future__ import annotations

import gc
import sys
import time

from bench._common import contract_bytes
from localnet.node import NEAR, Localnet

OUTLAYER, OWNER, WORKER, ALICE = "outlayer.test", "owner.test", "worker.test", "alice.test"
SOURCE = {"repo": "https://github.com/alice/hello", "commit": "ab" * 20}
LIMITS = {"max_instructions": 1_000_000, "max_execution_seconds": 5}


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def main(calls: int = 10_000) -> None:
    ln = Localnet()
    for account in (OUTLAYER, OWNER, WORKER, ALICE):
        ln.create_account(account, 10**9 * NEAR)
    assert ln.deploy(OUTLAYER, contract_bytes("outlayer")).success
    assert ln.call(OWNER, OUTLAYER, "new", {"owner_id": OWNER}).success
    assert ln.call(OWNER, OUTLAYER, "add_worker", {"account_id": WORKER}).success
    cost = int(ln.view(OUTLAYER, "estimate_execution_cost", {"resource_limits": LIMITS}))
    request = {"code_source": SOURCE, "resource_limits": LIMITS, "input_data": "hi"}
    used = {"instructions": 1000, "time_ms": 3}

    def one_round(request_id: int) -> int:
        """Four contract calls: a view, a request, its resolve and the callback."""
        ln.view(OUTLAYER, "get_stats")
        ln.call(ALICE, OUTLAYER, "request_execution", request, deposit=cost)
        resolved = ln.call(WORKER, OUTLAYER, "resolve_execution", {
            "request_id": request_id, "success": True, "output": "ok", "resources_used": used,
        })  # fmt: skip
        assert resolved.success, resolved.failure
        return 4

    done, request_id = 0, 1
    while done < 200:  # warm up: the compiled module, allocator arenas
        done += one_round(request_id)
        request_id += 1
        ln.view(OUTLAYER, "get_pricing")

    gc.collect()
    before = rss_mb()
    began = time.perf_counter()
    for _ in range(calls):
        ln.view(OUTLAYER, "get_pricing")
    elapsed = time.perf_counter() - began
    gc.collect()
    after = rss_mb()
    print(
        f"views: {calls} contract calls in {elapsed:.1f} s ({calls / elapsed:.0f}/s); "
        f"RSS before {before:.1f} MB, after {after:.1f} MB ({after - before:+.1f} MB)"
    )

    gc.collect()
    before = rss_mb()
    outcomes = len(ln.chain.outcomes)
    began = time.perf_counter()
    done = 0
    while done < calls:
        done += one_round(request_id)
        request_id += 1
    elapsed = time.perf_counter() - began
    gc.collect()
    after = rss_mb()
    kept = len(ln.chain.outcomes) - outcomes
    print(
        f"transactions: {done} contract calls in {elapsed:.1f} s ({done / elapsed:.0f}/s); "
        f"RSS before {before:.1f} MB, after {after:.1f} MB ({after - before:+.1f} MB; the "
        f"chain keeps its history: {kept} more receipt outcomes, {ln.chain.height} blocks)"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10_000)
