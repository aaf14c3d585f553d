"""HTTPS calls per second and latency (p50/p99) through the edge at concurrency 1, 8 and 64.

Everything real, each service its own process as deployed (`outlayer <service> serve`): the
edge (plain HTTP on loopback, to measure the platform rather than TLS), the coordinator
(PostgreSQL by default, a database of its own; ``--database sqlite``), one executor with its
sandboxed single-use worker processes, a trivial guest (hello.wat). Each level sends its calls
from that many concurrent clients; a call that comes back ``pending`` (its wait ran out), or
with an error, is counted apart, so "all answered" means every call came back ``done``.

    python -m bench.https_calls [--levels 1,8,64] [--calls N] [--database postgresql|sqlite]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import wasmtime

from bench.queue_throughput import database as bench_database
from outlayer.wasmstore import WasmStore

LEVELS = {1: 40, 8: 160, 64: 192}  # concurrency: calls
EXECUTOR_SLOTS = 4  # the executor's pool and concurrent jobs
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


class Stack:
    """The coordinator, one executor and the edge, each its own process (as deployed), on a
    database of their own and free ports; plain HTTP on loopback (TLS is not what is measured)."""

    def __init__(self, root: Path, database_url: str) -> None:
        self.root = root
        coordinator, self.edge_port = free_port(), free_port()
        self.env = {
            **os.environ,
            "OUTLAYER_DATABASE_URL": database_url,
            "OUTLAYER_TLS__ENABLED": "false",
            "OUTLAYER_COORDINATOR__ADMIN_TOKEN": "bench",
            "OUTLAYER_COORDINATOR__ADMIN_LISTEN": "127.0.0.1:0",
            "OUTLAYER_COORDINATOR__LISTEN": f"127.0.0.1:{coordinator}",
            "OUTLAYER_COORDINATOR__WASM_STORE_DIR": str(root / "wasm"),
            "OUTLAYER_EXECUTOR__LISTEN": f"127.0.0.1:{free_port()}",
            "OUTLAYER_EXECUTOR__COORDINATOR": f"127.0.0.1:{coordinator}",
            "OUTLAYER_EXECUTOR__WORKER_TOKEN_FILE": str(root / "worker.token"),
            "OUTLAYER_EXECUTOR__MODULE_CACHE_DIR": str(root / "modules"),
            "OUTLAYER_EXECUTOR__POOL_SIZE": str(EXECUTOR_SLOTS),
            "OUTLAYER_EXECUTOR__MAX_CONCURRENT": str(EXECUTOR_SLOTS),
            "OUTLAYER_EDGE__LISTEN": f"127.0.0.1:{self.edge_port}",
            "OUTLAYER_EDGE__COORDINATOR": f"127.0.0.1:{coordinator}",
        }
        self.processes: list[subprocess.Popen[bytes]] = []

    def outlayer(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "cli.main", *args], env=self.env,
                              capture_output=True, text=True, check=False)  # fmt: skip
        if done.returncode:
            raise SystemExit(f"outlayer {' '.join(args)} failed:\n{done.stderr}")
        return done.stdout

    def start(self) -> None:
        self.outlayer("coordinator", "add-worker", "bench")  # migrates the database
        token = self.outlayer("coordinator", "add-worker", "bench-executor").strip()
        (self.root / "worker.token").write_text(token)
        for service in ("coordinator", "executor", "edge"):
            log = (self.root / f"{service}.log").open("wb")
            self.processes.append(subprocess.Popen(
                [sys.executable, "-m", "cli.main", service, "serve"], env=self.env,
                stdout=log, stderr=log,
            ))  # fmt: skip

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run(levels: dict[int, int] = LEVELS, database: str = "postgresql") -> list[Level]:
    with tempfile.TemporaryDirectory(prefix="outlayer-bench-https-") as folder, \
            bench_database(database) as url:  # fmt: skip
        stack = Stack(Path(folder), url)
        stack.start()
        try:
            return measure(stack, levels)
        finally:
            stack.stop()


def measure(stack: Stack, levels: dict[int, int]) -> list[Level]:
    wasm = bytes(wasmtime.wat2wasm(HELLO.read_text()))
    WasmStore(stack.root / "wasm").put(wasm)
    base = f"http://127.0.0.1:{stack.edge_port}"
    admin = {"X-Admin-Token": "bench"}
    digest = hashlib.sha256(wasm).hexdigest()
    project = {"owner": "b", "name": "hello", "wasm_sha256": digest}
    for _ in range(600):  # the services are still starting (the edge answers 503 till then)
        try:
            if httpx.post(f"{base}/projects", json=project, headers=admin).status_code != 503:
                break
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    key = httpx.post(
        f"{base}/payment-keys", json={"owner": "b", "balance": str(10**30)}, headers=admin
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
    measured = []
    for concurrency, calls in levels.items():
        began = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as clients:
            answers = list(clients.map(one, range(calls)))
        elapsed = time.perf_counter() - began
        latencies = sorted(seconds for seconds, _ in answers)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        measured.append(Level(
            concurrency, calls, calls / elapsed, statistics.median(latencies) * 1000, p99 * 1000,
            sum(status == "pending" for _, status in answers),
            sum(status not in ("done", "pending") for _, status in answers),
        ))  # fmt: skip
    client.close()
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)),
                        help="concurrency levels to run (default: %(default)s)")  # fmt: skip
    parser.add_argument("--calls", type=int, default=0, help="calls per level (default: each "
                        "level's own)")  # fmt: skip
    parser.add_argument("--database", choices=("postgresql", "sqlite"), default="postgresql")
    args = parser.parse_args()
    chosen = {int(c): args.calls or LEVELS.get(int(c), 100) for c in args.levels.split(",")}
    print(f"HTTPS calls through the edge: hello guest, 1 executor ({EXECUTOR_SLOTS} slots), "
          f"{args.database}; each service its own process")  # fmt: skip
    print("| concurrency | calls | calls/s | p50 ms | p99 ms | pending | errors |")
    print("|---|---|---|---|---|---|---|")
    for level in run(chosen, args.database):
        print(f"| {level.concurrency} | {level.calls} | {level.rate:.1f} | {level.p50_ms:.0f} | "
              f"{level.p99_ms:.0f} | {level.pending} | {level.errors} |")  # fmt: skip


if __name__ == "__main__":
    main()
