"""HTTPS calls per second and latency (p50/p99) through the edge at concurrency 1, 8 and 64.

Everything real, each service its own process as deployed (`outlayer <service> serve`): the
edge (plain HTTP on loopback, to measure the platform rather than TLS), the coordinator
(PostgreSQL by default, a database of its own; ``--database sqlite``), one executor with its
sandboxed single-use worker processes, a trivial guest (hello.wat). Each level sends its calls
from that many concurrent clients; a call that comes back ``pending`` (its wait ran out), or
with an error, is counted apart, so "all answered" means every call came back ``done``.

With ``--cpu``, each level also says how much CPU each part used per call (from the
processes' own accounting in /proc: the edge, the coordinator, the executor's runner, its
zygote, the single-use workers the zygote reaped, the PostgreSQL backends of the bench's
database, and the benchmark's clients).

    python -m bench.https_calls [--levels 1,8,64] [--calls N] [--database postgresql|sqlite]
                                [--cpu]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
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
from devtools.ports import free_port
from outlayer.wasmstore import WasmStore

LEVELS = {1: 40, 8: 160, 64: 192}  # concurrency: calls
EXECUTOR_SLOTS = 4  # the executor's pool and concurrent jobs
HELLO = Path(__file__).resolve().parent.parent / "tests" / "guests" / "hello.wat"


PARTS = ("edge", "coordinator", "executor", "zygote", "workers", "postgresql", "clients")
_TICK_S = 1 / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Level:
    concurrency: int
    calls: int
    rate: float
    p50_ms: float
    p99_ms: float
    pending: int
    errors: int
    cpu_ms: dict[str, float]  # CPU per call, by part (see PARTS); empty without --cpu


def _times(pid: int) -> tuple[float, float]:
    """(CPU seconds of the process itself, of its children it has reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    utime, stime, cutime, cstime = (int(value) for value in fields[11:15])
    return (utime + stime) * _TICK_S, (cutime + cstime) * _TICK_S


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            if ppid == pid:
                found.append(int(entry))
    return found


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
        self.database_url = database_url

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

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each part (PARTS); workers count once reaped."""
        coordinator, executor, edge = (process.pid for process in self.processes)
        zygotes = [pid for pid in _children(executor) if b"_zygote" in _cmdline(pid)]
        zygote = _times(zygotes[0]) if zygotes else (0.0, 0.0)
        clients = os.times()
        return {
            "edge": _times(edge)[0],
            "coordinator": _times(coordinator)[0],
            "executor": _times(executor)[0],
            "zygote": zygote[0],
            "workers": zygote[1],
            "postgresql": sum(_times(pid)[0] for pid in self._backends()),
            "clients": clients.user + clients.system,
        }

    def _backends(self) -> list[int]:
        if not self.database_url.startswith("postgresql"):
            return []
        import psycopg  # only for PostgreSQL
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url)
        admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(admin, autocommit=True) as connection:
            rows = connection.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                (url.database,),
            ).fetchall()
        return [int(pid) for (pid,) in rows]


def _cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read()
    except OSError:
        return b""


def run(
    levels: dict[int, int] = LEVELS, database: str = "postgresql", cpu: bool = False
) -> list[Level]:
    with tempfile.TemporaryDirectory(prefix="outlayer-bench-https-") as folder, \
            bench_database(database) as url:  # fmt: skip
        stack = Stack(Path(folder), url)
        stack.start()
        try:
            return measure(stack, levels, cpu)
        finally:
            stack.stop()


def measure(stack: Stack, levels: dict[int, int], cpu: bool = False) -> list[Level]:
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
        used_before = stack.cpu() if cpu else {}
        began = time.perf_counter()
        with ThreadPoolExecutor(concurrency) as clients:
            answers = list(clients.map(one, range(calls)))
        elapsed = time.perf_counter() - began
        if cpu:
            time.sleep(0.3)  # the last workers are reaped
            used_after = stack.cpu()
            cpu_ms = {part: (used_after[part] - used_before[part]) * 1000 / calls
                      for part in PARTS}  # fmt: skip
        else:
            cpu_ms = {}
        latencies = sorted(seconds for seconds, _ in answers)
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        measured.append(Level(
            concurrency, calls, calls / elapsed, statistics.median(latencies) * 1000, p99 * 1000,
            sum(status == "pending" for _, status in answers),
            sum(status not in ("done", "pending") for _, status in answers), cpu_ms,
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
    parser.add_argument("--cpu", action="store_true", help="also the CPU each part used per "
                        "call")  # fmt: skip
    args = parser.parse_args()
    chosen = {int(c): args.calls or LEVELS.get(int(c), 100) for c in args.levels.split(",")}
    print(f"HTTPS calls through the edge: hello guest, 1 executor ({EXECUTOR_SLOTS} slots), "
          f"{args.database}; each service its own process")  # fmt: skip
    print("| concurrency | calls | calls/s | p50 ms | p99 ms | pending | errors |")
    print("|---|---|---|---|---|---|---|")
    levels = run(chosen, args.database, args.cpu)
    for level in levels:
        print(f"| {level.concurrency} | {level.calls} | {level.rate:.1f} | {level.p50_ms:.0f} | "
              f"{level.p99_ms:.0f} | {level.pending} | {level.errors} |")  # fmt: skip
    if args.cpu:
        print("\nCPU per call, ms (10 ms ticks summed over the level):")
        print("| concurrency | " + " | ".join(PARTS) + " | total |")
        print("|---|" + "---|" * (len(PARTS) + 1))
        for level in levels:
            parts = [level.cpu_ms[part] for part in PARTS]
            print(f"| {level.concurrency} | " + " | ".join(f"{ms:.1f}" for ms in parts)
                  + f" | {sum(parts):.1f} |")  # fmt: skip


if __name__ == "__main__":
    main()
