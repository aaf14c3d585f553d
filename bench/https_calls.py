"""HTTPS calls per second and latency (p50/p99) through the edge at concurrency 1, 8 and 64.

Everything real and in one process tree: the edge (plain HTTP on loopback, to measure the
platform rather than TLS), the coordinator (SQLite), one JobRunner with its sandboxed worker
pool, a trivial guest (hello.wat). Each level sends its calls from that many concurrent clients;
a call that comes back ``pending`` (its wait ran out), or with an error, is counted apart, so
"all answered" means every call came back ``done``.
"""

from __future__ import annotations

import hashlib
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import wasmtime

from outlayer.config import load_settings
from outlayer.wasmstore import WasmStore
from services.coordinator.database import make_engine, migrate
from services.coordinator.service import build_server
from services.coordinator.workers import register_worker
from services.edge.server import Edge, make_server
from services.executor import Executor
from services.executor.runner import JobRunner

LEVELS = {1: 40, 8: 160, 64: 192}  # concurrency: calls
HELLO = Path(__file__).resolve().parent.parent / "tests" / "guests" / "hello.wat"


@dataclass(frozen=True)
class Level:
    concurrency: int
    calls: int
    rate: float
    p50_ms: float
    p99_ms: float
    pending: int
    errors: int


def run() -> list[Level]:
    root = Path(tempfile.mkdtemp(prefix="outlayer-bench-https-"))
    settings = load_settings(
        tls={"enabled": False},
        coordinator={"admin_token": "bench"},
        executor={"module_cache_dir": root / "modules", "pool_size": 2, "max_concurrent": 2},
    )
    engine = make_engine(f"sqlite:///{root / 'db.sqlite'}")
    migrate(engine)
    server, port = build_server(settings, engine, "127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    wasm = bytes(wasmtime.wat2wasm(HELLO.read_text()))
    store = WasmStore(root / "wasm")
    store.put(wasm)
    stop = threading.Event()
    pool = Executor(settings)
    runner = JobRunner(pool, channel, register_worker(engine, "w0"), store)
    threading.Thread(target=runner.run_forever, args=(stop, 1.0), daemon=True).start()
    edge = make_server(Edge(f"127.0.0.1:{port}"), "127.0.0.1", 0, None)
    threading.Thread(target=edge.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{edge.server_address[1]}"
    admin = {"X-Admin-Token": "bench"}
    digest = hashlib.sha256(wasm).hexdigest()
    for _ in range(100):  # the edge's thread may still be starting
        try:
            httpx.get(f"{base}/healthz")
            break
        except httpx.TransportError:
            time.sleep(0.05)
    httpx.post(
        f"{base}/projects",
        json={"owner": "b", "name": "hello", "wasm_sha256": digest},
        headers=admin,
    ).raise_for_status()
    key = httpx.post(
        f"{base}/payment-keys", json={"owner": "b", "balance_yocto": str(10**30)}, headers=admin
    ).json()["secret"]
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    client = httpx.Client(base_url=base, headers={"X-Payment-Key": key}, timeout=120,
                          limits=limits)  # fmt: skip

    def one(_: int) -> tuple[float, str]:
        began = time.perf_counter()
        response = client.post("/call/b/hello", json={"input": ""})
        elapsed = time.perf_counter() - began
        if response.status_code != 200:
            return elapsed, "error"
        return elapsed, str(response.json()["status"])

    for _ in range(4):
        one(0)  # warm the pool and the module cache
    levels = []
    for concurrency, calls in LEVELS.items():
        began = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as clients:
            answers = list(clients.map(one, range(calls)))
        elapsed = time.perf_counter() - began
        latencies = sorted(seconds for seconds, _ in answers)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        levels.append(Level(
            concurrency, calls, calls / elapsed, statistics.median(latencies) * 1000, p99 * 1000,
            sum(status == "pending" for _, status in answers),
            sum(status not in ("done", "pending") for _, status in answers),
        ))  # fmt: skip
    stop.set()
    client.close()
    edge.shutdown()
    server.stop(grace=None)
    pool.close()
    return levels


def main() -> None:
    print("HTTPS calls through the edge: hello guest, 1 executor (pool of 2), SQLite")
    print("| concurrency | calls | calls/s | p50 ms | p99 ms | pending | errors |")
    print("|---|---|---|---|---|---|---|")
    for level in run():
        print(f"| {level.concurrency} | {level.calls} | {level.rate:.1f} | {level.p50_ms:.0f} | "
              f"{level.p99_ms:.0f} | {level.pending} | {level.errors} |")  # fmt: skip


if __name__ == "__main__":
    main()
