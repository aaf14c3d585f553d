"""From a request's block to its resolve transaction, for a cached module, on localnet with
NEAR's ~1 s blocks: how many blocks after the request's block the indexer sends
``resolve_execution`` (0: in the same block's time, 1: within the next block, ...).

Everything real and in one process: localnet (1 s blocks), the compiler (the module already
cached), the coordinator (SQLite), an executor's runner, and the indexer's own loop
(``run_forever`` at ``indexer.poll_seconds``). Requests are sent one at a time, at random
moments within a block.

    python -m bench.onchain_latency [--requests 30] [--block-time 1.0] [--poll 0.5,0.2]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from devstack.demo import account, provision, send_request, wait_final
from devtools.gitserver import GitServer
from outlayer.config import load_settings
from outlayer.near.keys import Signer
from outlayer.near.rpc import NearRpc, TxOutcome
from outlayer.v1 import coordinator_pb2_grpc
from outlayer.wasmstore import WasmStore
from services.coordinator.database import make_engine, migrate
from services.coordinator.service import build_server
from services.coordinator.workers import register_worker
from services.executor import Executor
from services.executor.runner import JobRunner
from services.indexer.cursor import Cursor
from services.indexer.events import RequestEvent
from services.indexer.feed import RequestFeed
from services.indexer.indexer import Chain, Indexer
from tests.compiler_fixture import running_compiler
from tests.conftest import built_guest
from tests.localnet_server import running_localnet

REPO = "https://github.com/outlayer/echo-json"
COMMIT = "1" * 40
LIMITS = {"max_instructions": 100_000_000, "max_execution_seconds": 10}


@dataclass(frozen=True)
class Sample:
    blocks: int  # the final head when resolve was sent, minus the request's block
    seen_to_sent_ms: float  # from the indexer reading the request to sending its resolve


class TimedRpc(NearRpc):
    """Notes the chain's head at the moment each resolve_execution is sent."""

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.resolved: dict[int, tuple[int, float]] = {}  # request id -> (head, monotonic)

    def function_call(self, signer: Signer, receiver_id: str, method: str, args: Any = None,
                      **options: Any) -> TxOutcome:  # fmt: skip
        if method == "resolve_execution":
            head = int(self.block()["header"]["height"])
            self.resolved[int(args["request_id"])] = (head, time.monotonic())
        return super().function_call(signer, receiver_id, method, args, **options)


class TimedIndexer(Indexer):
    """Notes when (and in which block) each request is read."""

    seen: dict[int, tuple[int, float]]

    def _submit(self, event: RequestEvent, head: int) -> None:
        self.seen[event.request_id] = (event.block_height, time.monotonic())
        super()._submit(event, head)


def run(requests: int, block_time_s: float, poll_s: float) -> list[Sample]:
    settings = load_settings(
        tls={"enabled": False}, executor={"module_cache_dir": Path(tempfile.mkdtemp()) / "m"}
    )
    with tempfile.TemporaryDirectory(prefix="outlayer-bench-onchain-") as folder:
        root_dir = Path(folder)
        with running_localnet(root_dir, block_time_s) as (url, root), \
                Executor(settings) as executor:  # fmt: skip
            git = GitServer(root_dir / "git").start()
            try:
                return _measure(settings, executor, root_dir, url, root, git=git,
                                requests=requests, block_time_s=block_time_s,
                                poll_s=poll_s)  # fmt: skip
            finally:
                git.stop()


def _measure(settings: Any, executor: Executor, root_dir: Path, url: str, root: Signer, *,
             git: GitServer, requests: int, block_time_s: float,
             poll_s: float) -> list[Sample]:  # fmt: skip
    rpc = TimedRpc(url)
    outlayer, worker = provision(rpc, root, root_dir, log=lambda _: None)
    alice = account(rpc, root, "alice", root_dir, log=lambda _: None)
    warm = {(REPO, COMMIT): built_guest("echo_json_rust")}
    mirrors = {"https://github.com": git.url}
    with running_compiler(settings, root_dir, warm, git_mirrors=mirrors) as (compiler, _):
        configured = settings.model_copy(update={"coordinator": settings.coordinator.model_copy(
            update={"compiler": compiler})})  # fmt: skip
        engine = make_engine(f"sqlite:///{root_dir / 'coordinator.db'}")
        migrate(engine)
        server, port = build_server(configured, engine, "127.0.0.1:0")
        server.start()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
        runner = JobRunner(executor, channel, register_worker(engine, "w1"),
                           WasmStore(root_dir / "wasm"))  # fmt: skip
        indexer = TimedIndexer(
            RequestFeed(rpc, outlayer.account_id), stub, rpc=rpc, operator=worker,
            chain=Chain(outlayer.account_id, "localnet"),
            cursor=Cursor(root_dir / "cursor.json"), block_seconds=block_time_s,
        )  # fmt: skip
        indexer.seen = {}
        stop = threading.Event()
        threads = [
            threading.Thread(target=runner.run_forever, args=(stop, 1.0), daemon=True),
            threading.Thread(target=indexer.run_forever, args=(stop, poll_s), daemon=True),
        ]
        for thread in threads:
            thread.start()
        try:
            for _ in range(requests + 1):  # the first one warms every cache; not counted
                time.sleep(random.uniform(0, block_time_s))
                sent = send_request(rpc, alice, outlayer.account_id,
                                    code_source={"repo": REPO, "commit": COMMIT},
                                    input_data='"hi"', limits=LIMITS)  # fmt: skip
                wait_final(rpc, sent.tx_hash, alice.account_id)
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=15)
            channel.close()
            server.stop(grace=None)
    samples = []
    for request_id in sorted(indexer.seen)[1:]:
        block, seen_at = indexer.seen[request_id]
        head, sent_at = rpc.resolved[request_id]
        samples.append(Sample(head - block, (sent_at - seen_at) * 1000))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--block-time", type=float, default=1.0)
    parser.add_argument("--poll", default="0.5,0.2", help="indexer.poll_seconds values to try")
    args = parser.parse_args()
    print(f"request block → resolve sent, cached module, localnet blocks of {args.block_time} s, "
          f"{args.requests} requests each")  # fmt: skip
    print("| indexer poll s | blocks after the request's: distribution | median | "
          "seen → resolve sent, p50 ms | p90 ms |")  # fmt: skip
    print("|---|---|---|---|---|")
    for poll in (float(p) for p in args.poll.split(",")):
        samples = run(args.requests, args.block_time, poll)
        counts = Counter(s.blocks for s in samples)
        spread = ", ".join(f"{b}: {counts[b]}" for b in sorted(counts))
        latencies = sorted(s.seen_to_sent_ms for s in samples)
        p90 = latencies[int(len(latencies) * 0.9)]
        print(f"| {poll:g} | {spread} | {statistics.median(s.blocks for s in samples):g} | "
              f"{statistics.median(latencies):.0f} | {p90:.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
