"""HTTPS calls per second and latency (p50/p99) through the edge, with 1 and 2 executors.

Everything real and in one process tree: the edge (plain HTTP on loopback, to measure the
platform rather than TLS), the coordinator (SQLite), JobRunners with their sandboxed worker
pools, a trivial guest (hello.wat). Clients: 4 threads, 120 calls per configuration.
"""

from __future__ import annotations

import hashlib
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
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

CALLS = 120
CLIENTS = 4
HELLO = Path(__file__).resolve().parent.parent / "tests" / "guests" / "hello.wat"


def run(executors: int) -> tuple[float, float, float]:
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
    pools = [Executor(settings) for _ in range(executors)]
    for n, pool in enumerate(pools):
        runner = JobRunner(pool, channel, register_worker(engine, f"w{n}"), store)
        threading.Thread(target=runner.run_forever, args=(stop, 1.0), daemon=True).start()
    edge = make_server(Edge(channel), "127.0.0.1", 0, None)
    threading.Thread(target=edge.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{edge.server_address[1]}"
    admin = {"X-Admin-Token": "bench"}
    digest = hashlib.sha256(wasm).hexdigest()
    httpx.post(
        f"{base}/projects",
        json={"owner": "b", "name": "hello", "wasm_sha256": digest},
        headers=admin,
    ).raise_for_status()
    key = httpx.post(
        f"{base}/payment-keys", json={"owner": "b", "balance_yocto": str(10**30)}, headers=admin
    ).json()["secret"]
    client = httpx.Client(base_url=base, headers={"X-Payment-Key": key}, timeout=60)

    def one(_: int) -> float:
        began = time.perf_counter()
        response = client.post("/call/b/hello", json={"input": ""})
        assert response.status_code == 200 and response.json()["status"] == "done", response.text
        return time.perf_counter() - began

    for _ in range(4):
        one(0)  # warm the pools and the module cache
    began = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as clients:
        latencies = sorted(clients.map(one, range(CALLS)))
    elapsed = time.perf_counter() - began
    stop.set()
    edge.shutdown()
    server.stop(grace=None)
    for pool in pools:
        pool.close()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    return CALLS / elapsed, statistics.median(latencies) * 1000, p99 * 1000


def main() -> None:
    print(f"HTTPS calls through the edge: {CALLS} calls, {CLIENTS} concurrent clients, hello guest")
    print("| executors | calls/s | p50 ms | p99 ms |")
    print("|---|---|---|---|")
    rates = {}
    for executors in (1, 2):
        rate, p50, p99 = run(executors)
        rates[executors] = rate
        print(f"| {executors} | {rate:.1f} | {p50:.1f} | {p99:.1f} |")
    print(f"2 executors / 1 executor: {rates[2] / rates[1]:.2f}x")


if __name__ == "__main__":
    main()
