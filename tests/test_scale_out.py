"""Scale-out on one machine: two coordinators, three executors, two indexers (a leader and a
standby) and two edges as real processes (`python -m cli.main <service> serve`, each with its
own config file and folder, mTLS with a development PKI), on one PostgreSQL database, with
localnet for the indexers and the compiler serving the on-chain requests' module.

Under load (HTTPS calls spread over both edges, each edge on its own coordinator; NEAR requests
from several accounts on localnet), one of each kind is killed with SIGKILL: an executor, the
indexer holding the lease, a coordinator and an edge. Then: every NEAR request is resolved on
chain with its own output, every HTTPS call is answered ``done`` (the client retries refusals,
which must be JSON errors, and lost connections, with the call's nonce, on the other edge), no
job exists or completes twice, and the payment key's balance is exactly its start less what the
calls were charged, with nothing left held.

Nothing here waits for a duration: kills are triggered by progress (calls and requests finished
since the last kill), and waits are failure bounds. Executors and indexers name both
coordinators (a gRPC target of two addresses: pick-first fails over), as they would name a
load-balanced Service in Kubernetes.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import httpx
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from sqlalchemy.engine import make_url

from devstack.demo import account, provision, send_request, wait_final
from devtools.ports import free_port
from outlayer.config import TlsSettings
from outlayer.grpcclient import open_channel
from outlayer.near.keys import Signer
from outlayer.near.rpc import NearRpc
from outlayer.wasmstore import WasmStore
from services.compiler.cache import ModuleCache
from services.compiler.sources import Source
from tests.conftest import built_guest, wat_guest
from tests.postgres_db import fresh_database

pytestmark = pytest.mark.timeout(1800)

REPO = "https://github.com/outlayer/echo-json"
COMMIT = "5" * 40
OWNER = "scale.localnet"
ADMIN_TOKEN = "scale-out-admin"
BALANCE = 10**27
BLOCK_S = 0.5  # localnet's block time: NEAR's yield window (200 blocks) is 100 s
LIMITS = {"max_instructions": 100_000_000, "max_execution_seconds": 5}
HTTPS_CLIENTS = 6
# One more client calls a guest that sleeps its input's first byte x 100 ms in a host call
# ("ú" is UTF-8 0xC3: 19.5 s): the executor killed is one running such a job, so that job is
# cut mid-run (the kill follows the look at the database within milliseconds).
SLEEPY_INPUT = "ú"
SLEEPY_LIMITS = {"max_execution_seconds": 30}
NEAR_USERS = 3
# Progress between kills (and after the last one): what each phase must finish.
PHASE_CALLS = 15
PHASE_REQUESTS = 2
BOUND_S = 600.0  # failure bound for anything to happen


def toml(sections: dict[str, dict[str, Any]], top: dict[str, Any]) -> str:
    """A TOML file of strings, numbers and flat tables (JSON's quoting is TOML's)."""
    lines = [f"{key} = {json.dumps(value)}" for key, value in top.items()]
    for name, values in sections.items():
        lines.append(f"\n[{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


@dataclass
class Service:
    name: str
    kind: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Cluster:
    root: Path
    database_url: str
    rpc_url: str = ""
    services: dict[str, Service] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)

    @property
    def libpq(self) -> str:
        return (
            make_url(self.database_url)
            .set(drivername="postgresql")
            .render_as_string(hide_password=False)
        )

    def port(self, name: str) -> int:
        if name not in self.ports:
            self.ports[name] = free_port()
        return self.ports[name]

    def coordinators(self, first: str) -> str:
        """Both coordinators as one gRPC target, ``first`` first (pick-first fails over)."""
        order = [first, *(c for c in ("coordinator-1", "coordinator-2") if c != first)]
        return "ipv4:" + ",".join(f"127.0.0.1:{self.port(c)}" for c in order)

    def config(self, name: str, sections: dict[str, dict[str, Any]]) -> Path:
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "outlayer.toml"
        common = {"tls": {"dir": str(self.root / "pki")}, **sections}
        path.write_text(toml(common, {"database_url": self.database_url}))
        return path

    def env(self, config: Path) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("OUTLAYER_")}
        return {**clean, "OUTLAYER_CONFIG": str(config)}

    def outlayer(self, config: Path, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "cli.main", *args], env=self.env(config),
                              capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def start(self, name: str, kind: str, config: Path, *args: str) -> Service:
        log = self.root / name / "service.log"
        with log.open("ab") as out:
            process = subprocess.Popen([sys.executable, "-m", "cli.main", *args],
                                       env=self.env(config), stdout=out,
                                       stderr=subprocess.STDOUT)  # fmt: skip
        service = Service(name, kind, self.ports.get(name, 0), process, log)
        self.services[name] = service
        return service

    def kill(self, name: str) -> None:
        process = self.services[name].process
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)

    def alive(self, name: str) -> bool:
        return self.services[name].process.poll() is None

    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            if service.process.poll() is None:
                service.process.send_signal(signal.SIGTERM)
        for service in self.services.values():
            try:
                service.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                service.process.kill()
                service.process.wait()

    def logs(self) -> str:
        tails = []
        for service in self.services.values():
            text = service.log.read_text(errors="replace") if service.log.is_file() else ""
            tails.append(f"--- {service.name} (exit {service.process.poll()}) ---\n"
                         + "\n".join(text.splitlines()[-15:]))  # fmt: skip
        return "\n".join(tails)

    def wait_healthy(self, name: str, peer: str) -> None:
        """The service's gRPC health service answers SERVING over mTLS."""
        tls = TlsSettings(dir=self.root / "pki")
        channel = open_channel(f"127.0.0.1:{self.port(name)}", tls, "operator", peer)
        stub = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + BOUND_S
        try:
            while True:
                assert self.alive(name), f"{name} exited:\n{self.logs()}"
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                assert time.monotonic() < deadline, f"{name} never became healthy"
                time.sleep(0.2)
        finally:
            channel.close()

    def leader_pid(self) -> int | None:
        """The OS process (an indexer) whose PostgreSQL session holds the leader lease."""
        with psycopg.connect(self.libpq, autocommit=True) as conn:
            row = conn.execute(
                "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a"
                " ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted"
            ).fetchone()
        if row is None:
            return None
        return int(str(row[0]).split("pid=", 1)[1].split()[0])

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.libpq, autocommit=True) as conn:
            return list(conn.execute(sql).fetchall())


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database("outlayer_scale") as url:
        yield url


@pytest.fixture
def cluster(tmp_path: Path, database: str) -> Iterator[Cluster]:
    from outlayer.tls import ensure_dev_pki

    cluster = Cluster(tmp_path, database)
    ensure_dev_pki(tmp_path / "pki")
    try:
        yield cluster
    finally:
        cluster.stop()


def wait_for(condition: Callable[[], bool], what: str, cluster: Cluster) -> None:
    deadline = time.monotonic() + BOUND_S
    while not condition():
        assert time.monotonic() < deadline, f"{what}\n{cluster.logs()}"
        time.sleep(0.1)


def bring_up(cluster: Cluster) -> dict[str, Any]:
    root = cluster.root
    wasm = root / "wasm"  # one WASM store: the compiler's cache, coordinators', executors'
    echo = built_guest("echo_json_rust")
    ModuleCache(wasm).put(Source(REPO, COMMIT), echo, time.time(), 0.0)  # built earlier
    digest = WasmStore(wasm).put(echo)
    sleepy = WasmStore(wasm).put(wat_guest("sleep_in_host_call"))

    # localnet, with the contract and its worker account, and the users who make requests.
    localnet = cluster.config("localnet", {})
    cluster.start("localnet", "localnet", localnet, "localnet", "serve", "--listen",
                  f"127.0.0.1:{cluster.port('localnet')}", "--block-time", str(BLOCK_S),
                  "--state-dir", str(root / "localnet"))  # fmt: skip
    cluster.rpc_url = f"http://127.0.0.1:{cluster.port('localnet')}"
    rpc = NearRpc(cluster.rpc_url)

    def localnet_up() -> bool:
        try:
            return rpc.call("status", []) is not None
        except Exception:
            return False

    wait_for(localnet_up, "localnet did not start", cluster)
    chain_root = Signer.load(root / "localnet" / "root.json")
    keys = root / "keys"
    outlayer, _worker = provision(rpc, chain_root, keys, log=lambda _: None)
    users = [account(rpc, chain_root, f"user{i}", keys, log=lambda _: None)
             for i in range(NEAR_USERS)]  # fmt: skip

    compiler = cluster.config("compiler", {"compiler": {
        "listen": f"127.0.0.1:{cluster.port('compiler')}", "cache_dir": str(wasm),
        "work_dir": str(root / "compiler" / "builds"),
        "package_cache_dir": str(root / "compiler" / "packages"),
    }})  # fmt: skip

    def coordinator_config(name: str) -> Path:
        return cluster.config(name, {"coordinator": {
            "listen": f"127.0.0.1:{cluster.port(name)}", "admin_listen": "127.0.0.1:0",
            "wasm_store_dir": str(wasm), "compiler": f"127.0.0.1:{cluster.port('compiler')}",
            "lease_seconds": 3.0, "max_attempts": 5, "admin_token": ADMIN_TOKEN,
        }})  # fmt: skip

    # The schema and the executors' tokens first (one migration, before any replica serves).
    first = coordinator_config("coordinator-1")
    for n in (1, 2, 3):
        token = cluster.outlayer(first, "coordinator", "add-worker", f"executor-{n}")
        (root / f"executor-{n}.token").write_text(token)

    cluster.start("compiler", "compiler", compiler, "compiler", "serve")
    for name in ("coordinator-1", "coordinator-2"):
        cluster.start(name, "coordinator", coordinator_config(name), "coordinator", "serve")
    cluster.wait_healthy("compiler", "compiler")
    for name in ("coordinator-1", "coordinator-2"):
        cluster.wait_healthy(name, "coordinator")

    for n, prefer in ((1, "coordinator-1"), (2, "coordinator-2"), (3, "coordinator-1")):
        name = f"executor-{n}"
        config = cluster.config(name, {
            "executor": {
                "listen": f"127.0.0.1:{cluster.port(name)}",
                "coordinator": cluster.coordinators(prefer),
                "worker_token_file": str(root / f"{name}.token"),
                "module_cache_dir": str(root / name / "modules"),
                "compiler": f"127.0.0.1:{cluster.port('compiler')}",
                "pool_size": 2, "max_concurrent": 2,
            },
            "coordinator": {"wasm_store_dir": str(wasm)},
        })  # fmt: skip
        cluster.start(name, "executor", config, "executor", "serve")

    for name, prefer in (("indexer-a", "coordinator-1"), ("indexer-b", "coordinator-2")):
        config = cluster.config(name, {"indexer": {
            "listen": f"127.0.0.1:{cluster.port(name)}", "rpc_url": cluster.rpc_url,
            "contract_id": outlayer.account_id, "network_id": "localnet",
            "operator_key_file": str(keys / f"worker.{chain_root.account_id}.json"),
            "coordinator": cluster.coordinators(prefer), "state_dir": str(root / name),
            "start_height": 0, "poll_seconds": 0.2, "block_seconds": BLOCK_S,
            "leader_retry_seconds": 0.5, "leader_check_seconds": 0.5,
        }})  # fmt: skip
        cluster.start(name, "indexer", config, "indexer", "serve")

    for name, coordinator in (("edge-1", "coordinator-1"), ("edge-2", "coordinator-2")):
        config = cluster.config(name, {"edge": {
            "listen": f"127.0.0.1:{cluster.port(name)}",
            "coordinator": f"127.0.0.1:{cluster.port(coordinator)}",
        }})  # fmt: skip
        cluster.start(name, "edge", config, "edge", "serve")

    for n in (1, 2, 3):
        cluster.wait_healthy(f"executor-{n}", "executor")
    for name in ("indexer-a", "indexer-b"):
        cluster.wait_healthy(name, "indexer")
    wait_for(lambda: cluster.leader_pid() is not None, "no indexer took the lease", cluster)

    http = edge_client(cluster, "edge-1", headers={"X-Admin-Token": ADMIN_TOKEN})

    def project_made() -> bool:
        try:
            project = {"owner": OWNER, "name": "echo", "wasm_sha256": digest}
            return http.post("/projects", json=project).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(project_made, "the edge never created the project", cluster)
    made = http.post("/projects", json={"owner": OWNER, "name": "sleepy", "wasm_sha256": sleepy})
    assert made.status_code == 200, made.text
    made = http.post("/payment-keys", json={"owner": OWNER, "balance": str(BALANCE)})
    assert made.status_code == 200, made.text
    wait_for(lambda: edge_healthy(cluster, "edge-2"), "edge-2 never answered", cluster)
    return {"rpc": rpc, "contract": outlayer.account_id, "users": users,
            "key": made.json()}  # fmt: skip


def edge_client(cluster: Cluster, name: str, **kwargs: Any) -> httpx.Client:
    verify = ssl.create_default_context(cafile=str(cluster.root / "pki" / "ca.pem"))
    return httpx.Client(base_url=f"https://127.0.0.1:{cluster.port(name)}", verify=verify,
                        timeout=90, **kwargs)  # fmt: skip


def edge_healthy(cluster: Cluster, name: str) -> bool:
    try:
        with edge_client(cluster, name) as client:
            return client.get("/healthz").status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Load:
    """What the clients saw, shared by their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)  # nonce -> final answer
    requests: dict[str, Any] = field(default_factory=dict)  # input -> on-chain result
    refusals: Counter[str] = field(default_factory=Counter)  # HTTP status:code
    lost_connections: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def done_counts(self) -> tuple[int, int]:
        with self.lock:
            return len(self.calls), len(self.requests)


def https_client(
    cluster: Cluster, load: Load, index: int, secret: str, project: str = "echo"
) -> None:
    """Logical calls, one after another, each retried with its nonce until answered ``done``:
    on the other edge after a refusal or a lost connection."""
    edges = ["edge-1", "edge-2"]
    clients = {e: edge_client(cluster, e, headers={"X-Payment-Key": secret}) for e in edges}
    turn = index % 2
    number = 0
    try:
        while not load.stop.is_set():
            number += 1
            error = one_call(cluster, load, clients=clients, edges=edges, turn=turn,
                             nonce=f"c{index}-{number}", project=project)  # fmt: skip
            if error is not None:
                with load.lock:
                    load.errors.append(error)
                return
            turn = 1 - turn  # spread calls over both edges
    finally:
        for client in clients.values():
            client.close()


def one_call(
    cluster: Cluster,
    load: Load,
    *,
    clients: dict[str, httpx.Client],
    edges: list[str],
    turn: int,
    nonce: str,
    project: str,
) -> str | None:
    """One logical call to completion; an error message when the platform cannot finish it."""
    text = SLEEPY_INPUT if project == "sleepy" else f"input {nonce}"
    body: dict[str, Any] = {"input": text, "response_format": "RESPONSE_FORMAT_JSON",
                            "nonce": nonce, "wait_seconds": 30}  # fmt: skip
    if project == "sleepy":  # it prints nothing: text, not JSON
        body.update(limits=SLEEPY_LIMITS, response_format="RESPONSE_FORMAT_TEXT")
    deadline = time.monotonic() + BOUND_S
    call_id = None
    while time.monotonic() < deadline:
        client = clients[edges[turn]]
        try:
            if call_id is None:
                answer = client.post(f"/call/{OWNER}/{project}", json=body)
            else:
                answer = client.get(f"/calls/{call_id}", params={"wait_seconds": 30})
        except httpx.HTTPError:
            with load.lock:
                load.lost_connections += 1
            turn = 1 - turn
            time.sleep(0.2)
            continue
        if answer.status_code != 200:
            with load.lock:
                load.refusals[refusal(answer)] += 1
            turn = 1 - turn
            time.sleep(0.2)
            continue
        reply = answer.json()
        if reply["status"] == "done":
            reply["input"], reply["project"] = text, project
            with load.lock:
                load.calls[nonce] = reply
            return None
        call_id = reply["call_id"]  # pending: long-poll its result
        if given_up(cluster, call_id):
            return (f"call {nonce} ({call_id}) answers pending for ever: it was held but never "
                    "queued (its coordinator died between the hold and the queue), and the "
                    "sweeper released it, yet its nonce still names it")  # fmt: skip
    return f"call {nonce} never finished"


def refusal(answer: httpx.Response) -> str:
    """A refusal's ``status:code``; a body that is not the JSON error shape says so."""
    try:
        error = answer.json()
        if isinstance(error, dict) and {"code", "message"} <= error.keys():
            return f"{answer.status_code}:{error['code']}"
    except ValueError:
        pass
    return f"{answer.status_code}:NOT-JSON {answer.text[:80]!r}"


def given_up(cluster: Cluster, call_id: str) -> bool:
    """The platform's own verdict that a call will never run: no job, and its hold released."""
    rows = cluster.query(f"SELECT job_id, charged FROM calls WHERE call_id = '{call_id}'")
    return bool(rows) and rows[0][0] == 0 and rows[0][1] is not None


def near_client(load: Load, rpc: NearRpc, contract: str, user: Signer) -> None:
    number = 0
    while not load.stop.is_set():
        number += 1
        text = f"near {user.account_id} {number}"
        try:
            sent = send_request(rpc, user, contract, code_source={"repo": REPO, "commit": COMMIT},
                                input_data=text, limits=LIMITS)  # fmt: skip
            assert sent.failure is None, sent.failure
            final = wait_final(rpc, sent.tx_hash, user.account_id, timeout_s=BOUND_S)
        except Exception as exc:
            with load.lock:
                load.errors.append(f"request {text!r}: {exc!r}")
            return
        with load.lock:
            load.requests[text] = final.value


def test_killing_one_of_each_loses_nothing_and_runs_nothing_twice(cluster: Cluster) -> None:
    world = bring_up(cluster)
    load = Load()
    kills, standby, cut = load_and_kill(cluster, world, load)
    assert not load.errors, f"{load.errors}\n{cluster.logs()}"
    victim = kills[0][0]
    executors = [f"executor-{n}" for n in (1, 2, 3) if f"executor-{n}" != victim]
    for name in (*executors, standby, "coordinator-2", "edge-2"):
        assert cluster.alive(name), f"{name} died:\n{cluster.logs()}"
    # The job the killed executor was running ran again elsewhere, and completed once.
    ((status, attempts, owner),) = cluster.query(
        f"SELECT status, attempts, lease_owner FROM jobs WHERE id = {cut}"
    )
    assert status == "done" and attempts >= 2 and owner != victim, (status, attempts, owner)
    # Every refusal a client saw was the JSON error shape.
    assert not [r for r in load.refusals if "NOT-JSON" in r], load.refusals

    # Every HTTPS call: done, with its own input echoed back.
    for nonce, reply in load.calls.items():
        result = reply["result"]
        assert result["status"] == "success", (nonce, result)
        if reply["project"] == "echo":
            assert result["output"]["input"] == reply["input"], (nonce, result)
    # Every on-chain request: resolved with its own output.
    for text, value in load.requests.items():
        assert value["status"] == "success", (text, value)
        assert value["output"]["input"] == text, (text, value)

    retried = check_jobs_and_billing(cluster, world, load)
    # The shared cursor moved on past the kill of the first leader.
    ((height,),) = cluster.query("SELECT last_height FROM outlayer_indexer_cursor")
    assert height > 0
    summary = {
        "https_calls": len(load.calls), "near_requests": len(load.requests),
        "kills": kills, "refusals": dict(load.refusals),
        "lost_connections": load.lost_connections, "jobs_run_again_after_a_lost_lease": retried,
        "load_seconds": round(load.seconds, 1),
    }  # fmt: skip
    print(f"scale-out: {json.dumps(summary)}")


def load_and_kill(
    cluster: Cluster, world: dict[str, Any], load: Load
) -> tuple[list[tuple[str, tuple[int, int]]], str, int]:
    """Runs the clients; kills an executor (one running a sleepy job), the leading indexer, a
    coordinator and the edge in front of it, each once the load made progress since the last
    kill; stops the clients once it made progress after the last. Returns the kills (with the
    progress at each), the standby indexer and the job cut mid-run."""
    secret = world["key"]["secret"]
    threads = [threading.Thread(target=https_client, args=(cluster, load, i, secret))
               for i in range(HTTPS_CLIENTS)]  # fmt: skip
    threads.append(
        threading.Thread(target=https_client, args=(cluster, load, HTTPS_CLIENTS, secret, "sleepy"))
    )
    threads += [threading.Thread(target=near_client,
                                 args=(load, world["rpc"], world["contract"], user))
                for user in world["users"]]  # fmt: skip
    began = time.monotonic()
    for thread in threads:
        thread.start()

    def progressed(since: tuple[int, int]) -> Callable[[], bool]:
        def check() -> bool:
            calls, requests = load.done_counts()
            assert not load.errors, load.errors
            return calls >= since[0] + PHASE_CALLS and requests >= since[1] + PHASE_REQUESTS

        return check

    kills: list[tuple[str, tuple[int, int]]] = []
    leader = cluster.leader_pid()
    indexers = {cluster.services[n].process.pid: n for n in ("indexer-a", "indexer-b")}
    standby = next(n for pid, n in indexers.items() if pid != leader)
    try:
        wait_for(progressed(load.done_counts()), "no progress at first", cluster)
        running: list[tuple[int, str]] = []

        def sleepy_running() -> bool:
            running[:] = [(int(i), str(o)) for i, o in cluster.query(
                "SELECT id, lease_owner FROM jobs WHERE status = 'leased'"
                " AND spec_json LIKE '%sleepy%' AND attempts = 1")]  # fmt: skip
            return bool(running)

        wait_for(sleepy_running, "no executor ever ran a sleepy job", cluster)
        cut, executor = running[0]
        cluster.kill(executor)  # mid-job: the guest sleeps 19.5 s in a host call
        kills.append((executor, load.done_counts()))
        ((attempts, status),) = cluster.query(f"SELECT attempts, status FROM jobs WHERE id = {cut}")
        assert (attempts, status) == (1, "leased")  # still its run: it was cut, not finished
        for victim in (indexers[leader or 0], "coordinator-1", "edge-1"):
            wait_for(progressed(load.done_counts()), f"no progress before killing {victim}",
                     cluster)  # fmt: skip
            cluster.kill(victim)
            kills.append((victim, load.done_counts()))
        # The standby leads now (the killed leader's session ended with its process).
        wait_for(lambda: cluster.leader_pid() == cluster.services[standby].process.pid,
                 "the standby indexer never took the lease", cluster)  # fmt: skip
        wait_for(progressed(load.done_counts()), "no progress after the last kill", cluster)
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(timeout=BOUND_S)
    load.seconds = time.monotonic() - began  # reported, never asserted
    assert not any(thread.is_alive() for thread in threads)
    return kills, standby, cut


def check_jobs_and_billing(cluster: Cluster, world: dict[str, Any], load: Load) -> int:
    """No job twice, every job done once, each call charged once as answered, the key's
    balance exact and nothing held. Returns how many jobs ran again after a lost lease."""
    jobs = cluster.query("SELECT dedupe_key, kind, status, attempts, settled_at IS NOT NULL"
                         " FROM jobs")  # fmt: skip
    # One job per origin (the dedupe key), each completed once (the first completion wins).
    assert all(count == 1 for count in Counter(key for key, *_ in jobs).values())
    assert all(status == "done" for _key, _kind, status, _a, _s in jobs), jobs
    https_jobs = [j for j in jobs if j[1] == "https"]
    near_jobs = [j for j in jobs if j[1] == "near"]
    calls = cluster.query("SELECT call_id, nonce, charged, job_id FROM calls")
    assert sorted(c[1] for c in calls) == sorted(load.calls)  # one call per logical call
    assert {c[0] for c in calls} == {r["call_id"] for r in load.calls.values()}
    assert len(https_jobs) == len(calls)
    assert len(near_jobs) == len(load.requests)
    assert all(settled for *_rest, settled in near_jobs)  # acknowledged after the resolve

    charged = {c[0]: int(c[2]) for c in calls}
    for reply in load.calls.values():
        assert charged[reply["call_id"]] == int(reply["charged"])
    assert all(amount > 0 for amount in charged.values())
    ((balance, held),) = cluster.query(
        f"SELECT balance, held FROM payment_keys WHERE key_id = '{world['key']['key_id']}'"
    )
    assert int(held) == 0
    assert int(balance) == BALANCE - sum(charged.values())
    return sum(1 for *_rest, attempts, _s in jobs if attempts > 1)
