"""The compiler's gRPC API over mTLS, `outlayer compile` and `outlayer cache` against it, and a
code source end to end: an HTTPS call compiles first, then executes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select

from devtools.gitserver import GitServer
from devtools.ports import free_port
from outlayer.config import Settings
from outlayer.tls import ensure_dev_pki, identity_in
from outlayer.v1 import compiler_pb2 as pb
from outlayer.v1 import compiler_pb2_grpc, coordinator_pb2, coordinator_pb2_grpc
from outlayer.wasmstore import WasmStore
from services.coordinator.database import make_engine, migrate
from services.coordinator.models import SystemHiddenLog
from services.coordinator.queue import JobQueue
from services.coordinator.service import build_server as coordinator_server
from services.coordinator.workers import register_worker
from services.edge.server import Edge, make_server
from services.executor import Executor
from services.executor.modules import ModuleSource
from services.executor.runner import JobRunner
from tests.compiler.conftest import HELLO_C
from tests.compiler_fixture import compiler_settings, running_compiler


@dataclass
class Mesh:
    settings: Settings  # mTLS on
    pki: Path
    address: str
    git: GitServer

    def stub(self, service: str) -> compiler_pb2_grpc.CompilerServiceStub:
        options = [("grpc.ssl_target_name_override", "compiler.outlayer.internal")]
        credentials = identity_in(self.pki, service).channel_credentials()
        channel = grpc.secure_channel(self.address, credentials, options)
        return compiler_pb2_grpc.CompilerServiceStub(channel)

    def cli(self, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, **extra_env, "OUTLAYER_TLS__DIR": str(self.pki),
               "OUTLAYER_COMPILER__CACHE_DIR": str(self.settings.compiler.cache_dir),
               "OUTLAYER_COMPILER__WORK_DIR": str(self.settings.compiler.work_dir),
               "OUTLAYER_COMPILER__PACKAGE_CACHE_DIR": str(self.pki.parent / "packages"),
               "OUTLAYER_COMPILER__ALLOWED_HOSTS": json.dumps([self.git.url])}  # fmt: skip
        return subprocess.run([sys.executable, "-m", "cli.main", *args, ],
                              env=env, capture_output=True, text=True, timeout=120,
                              check=False)  # fmt: skip


@pytest.fixture
def mesh(settings: Settings, tmp_path: Path, git: GitServer) -> Iterator[Mesh]:
    pki = tmp_path / "pki"
    ensure_dev_pki(pki)
    tls = settings.model_copy(update={"tls": settings.tls.model_copy(
        update={"enabled": True, "dir": pki})})  # fmt: skip
    with running_compiler(tls, tmp_path, allowed_hosts=[git.url]) as (address, _):
        yield Mesh(compiler_settings(tls, tmp_path, [git.url]), pki, address, git)


def compile_request(repo: str, commit: str) -> pb.CompileRequest:
    return pb.CompileRequest(source=pb.SourceRef(repo=repo, commit=commit))


def ready(
    stub: compiler_pb2_grpc.CompilerServiceStub, request: pb.CompileRequest
) -> pb.CompileReply:
    deadline = time.monotonic() + 60
    while True:
        reply = stub.Compile(request, timeout=30)
        if reply.status != pb.COMPILE_STATUS_IN_PROGRESS or time.monotonic() > deadline:
            return reply
        time.sleep(0.2)


def test_each_caller_gets_only_its_methods(mesh: Mesh) -> None:
    commit = mesh.git.publish("alice", "hello", {"main.c": HELLO_C})
    request = compile_request(f"{mesh.git.url}/alice/hello", commit)
    with pytest.raises(grpc.RpcError) as refused:
        mesh.stub("executor").Compile(request, timeout=10)
    assert refused.value.code() is grpc.StatusCode.PERMISSION_DENIED
    assert "allowed: coordinator, operator" in str(refused.value.details())

    first = mesh.stub("coordinator").Compile(request, timeout=30)
    assert first.status == pb.COMPILE_STATUS_IN_PROGRESS and first.cache_key
    done = ready(mesh.stub("coordinator"), request)
    assert done.status == pb.COMPILE_STATUS_READY and len(done.checksum) == 64

    chunks = mesh.stub("executor").GetModule(pb.GetModuleRequest(checksum=done.checksum))
    wasm = b"".join(chunk.data for chunk in chunks)
    assert hashlib.sha256(wasm).hexdigest() == done.checksum and len(wasm) == done.size_bytes
    with pytest.raises(grpc.RpcError) as unknown:
        list(mesh.stub("executor").GetModule(pb.GetModuleRequest(checksum="0" * 64)))
    assert unknown.value.code() is grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as malformed:
        list(mesh.stub("executor").GetModule(pb.GetModuleRequest(checksum="../../etc/passwd")))
    assert malformed.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "not a SHA-256 checksum" in str(malformed.value.details())

    for service in ("executor", "edge"):
        with pytest.raises(grpc.RpcError) as denied:
            mesh.stub(service).ListCache(pb.ListCacheRequest(), timeout=10)
        assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
    # The operator, and the coordinator (it publishes the cache's totals: /public/compile-cache).
    for service in ("operator", "coordinator"):
        listed = mesh.stub(service).ListCache(pb.ListCacheRequest(), timeout=10)
        assert [e.checksum for e in listed.entries] == [done.checksum]


def test_outlayer_compile_and_cache_against_the_service(mesh: Mesh) -> None:
    commit = mesh.git.publish("alice", "hello", {"main.c": HELLO_C})
    repo = f"{mesh.git.url}/alice/hello"
    target = ["--compiler", mesh.address]
    asked = mesh.cli("compile", repo, "--commit", commit, *target)
    assert asked.returncode == 0, asked.stderr
    first = json.loads(asked.stdout)
    assert first["status"] == "compilation_in_progress" and first["cache_key"]
    module = mesh.pki.parent / "hello.wasm"
    waited = mesh.cli("compile", repo, "--branch", "main", "--wait", "--output", str(module),
                      *target)  # fmt: skip
    shown = json.loads(waited.stdout)
    assert shown["status"] == "ready" and shown["checksum"].startswith("sha256:")
    assert shown["source"] == {"repo": repo, "commit": commit, "branch": "main"}
    assert shown["error"] is None and shown["size_bytes"] > 0
    # --output wrote the module the compiler holds (over GetModule); the build's metadata
    assert hashlib.sha256(module.read_bytes()).hexdigest() == shown["checksum"][7:]
    assert shown["build"]["language"] == "c" and "clang version" in shown["build"]["toolchain"]
    assert shown["build"]["build_seconds"] > 0 and shown["build"]["ignored_prebuilt"] == []

    bad = mesh.cli("compile", "git@github.com:a/b.git", "--commit", commit, *target)
    assert bad.returncode == 1
    refused = json.loads(bad.stdout)
    assert refused["status"] == "failed" and refused["error"]["type"] == "invalid_repository_url"

    listed = json.loads(mesh.cli("cache", "list", *target).stdout)
    assert [e["checksum"] for e in listed["entries"]] == [shown["checksum"].split(":")[1]]
    evicted = mesh.cli("cache", "evict", shown["checksum"], *target)
    assert evicted.returncode == 0 and json.loads(evicted.stdout)["evicted"] is True
    again = mesh.cli("compile", repo, "--commit", commit, *target)
    assert json.loads(again.stdout)["status"] == "compilation_in_progress"  # rebuilt on demand

    down = mesh.cli("cache", "list", "--compiler", "127.0.0.1:1")
    assert down.returncode == 2 and "compiler" in down.stderr


def test_outlayer_compile_local_builds_in_process(mesh: Mesh) -> None:
    commit = mesh.git.publish("alice", "hello", {"main.c": HELLO_C, "out/old.wasm": b"\0asm"})
    module = mesh.pki.parent / "local.wasm"
    unreachable = "sparse+http://127.0.0.1:9/"  # no registry there: --local serves Debian's
    done = mesh.cli("compile", f"{mesh.git.url}/alice/hello", "--commit", commit, "--local",
                    "--output", str(module),
                    OUTLAYER_COMPILER__REGISTRIES__CRATES=unreachable)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "using the development crate registry" in done.stderr
    shown = json.loads(done.stdout)
    assert shown["status"] == "ready" and module.read_bytes()[:4] == b"\0asm"
    assert shown["build"]["ignored_prebuilt"] == ["out/old.wasm"]
    assert "building" in done.stderr  # the phases, one line each off a terminal
    digest = shown["checksum"].removeprefix("sha256:")
    assert (mesh.settings.compiler.cache_dir / f"{digest}.wasm").is_file()
    broken = mesh.git.publish("alice", "broken", {"main.c": "int main( {"})
    failed = mesh.cli("compile", f"{mesh.git.url}/alice/broken", "--commit", broken, "--local")
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["error"]["type"] == "compilation_error"
    assert "main(" not in failed.stdout


@dataclass
class Calls:
    http: httpx.Client
    paid: dict[str, str]

    def call(self, name: str) -> dict[str, Any]:
        body: dict[str, Any] = self.http.post(
            f"/call/dev.near/{name}", json={"input": "x"}, headers=self.paid
        ).json()
        return body

    def until_built(self, name: str) -> dict[str, Any]:
        deadline = time.monotonic() + 60
        answer = self.call(name)
        while answer["result"]["error"] and time.monotonic() < deadline:
            if answer["result"]["error"]["type"] != "compilation_in_progress":
                break
            time.sleep(0.3)
            answer = self.call(name)
        return answer


@contextmanager
def https_platform(
    settings: Settings, executor: Executor, tmp_path: Path, git: GitServer, engine: Engine
) -> Iterator[Calls]:
    """Coordinator, compiler, one executor with its own store, and the edge; alice's
    repositories named as on GitHub and fetched from the loopback server (a mirror)."""
    mirror = {"https://github.com/alice": f"{git.url}/alice"}
    debug = settings.model_copy(update={"save_system_hidden_logs_to_debug": True})
    with running_compiler(debug, tmp_path / "compiler", git_mirrors=mirror) as (address, _):
        configured = debug.model_copy(update={"coordinator": settings.coordinator.model_copy(
            update={"admin_token": "admin", "compiler": address})})  # fmt: skip
        server, port = coordinator_server(configured, engine, "127.0.0.1:0")
        server.start()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        compiler = compiler_pb2_grpc.CompilerServiceStub(grpc.insecure_channel(address))
        modules = ModuleSource(WasmStore(tmp_path / "executor-store"), compiler)
        runner = JobRunner(executor, channel, register_worker(engine, "w"), modules)
        stop = threading.Event()
        worker = threading.Thread(target=runner.run_forever, args=(stop, 0.5), daemon=True)
        worker.start()
        edge = make_server(Edge(f"127.0.0.1:{port}"), "127.0.0.1", 0, None)
        threading.Thread(target=edge.serve_forever, daemon=True).start()
        admin = {"X-Admin-Token": "admin"}
        try:
            base = f"http://127.0.0.1:{edge.server_address[1]}"
            with httpx.Client(base_url=base, timeout=60) as http:
                owner = {"owner": "alice.near", "balance": str(10**24)}
                key = http.post("/payment-keys", headers=admin, json=owner).json()
                for name in ("hello", "broken"):
                    source = {"repo": f"https://github.com/alice/{name}",
                              "commit": git.publish("alice", name, REPOS[name])}  # fmt: skip
                    project = {"owner": "dev.near", "name": name, "code_source": source}
                    made = http.post("/projects", headers=admin, json=project)
                    assert made.status_code == 200, made.text
                yield Calls(http, {"X-Payment-Key": key["secret"]})
        finally:
            stop.set()
            worker.join()
            edge.shutdown()
            server.stop(grace=None)


REPOS: dict[str, dict[str, str | bytes]] = {
    "hello": {"main.c": HELLO_C},
    "broken": {"main.c": "int main(void) { SECRET_MARKER }"},
}


def test_a_source_is_compiled_then_executed_through_https(
    settings: Settings, executor: Executor, tmp_path: Path, git: GitServer
) -> None:
    """The first call answers compiling (and costs nothing), a later one runs the module, which
    the executor fetched from the compiler. With hidden logs on, a failed build's output
    reaches system_hidden_logs and no response."""
    engine = make_engine(f"sqlite:///{tmp_path / 'coordinator.db'}")
    migrate(engine)
    with https_platform(settings, executor, tmp_path, git, engine) as calls:
        first = calls.call("hello")
        assert first["result"]["error"]["type"] == "compilation_in_progress"
        assert first["charged"] == "0"
        later = calls.until_built("hello")
        assert later["result"]["output"] == "hello from C\n"
        assert int(later["charged"]) > 0
        assert len(list((tmp_path / "executor-store").glob("*.wasm"))) == 1  # fetched

        failing = calls.until_built("broken")
        assert failing["result"]["error"]["type"] == "compilation_error"
        assert failing["charged"] == "0"
        assert "SECRET_MARKER" not in json.dumps(failing)
        status = calls.http.get(f"/calls/{failing['call_id']}", headers=calls.paid).json()
        assert "SECRET_MARKER" not in json.dumps(status)
    with Session(engine) as session:
        logged = session.exec(select(SystemHiddenLog)).all()
    assert any("SECRET_MARKER" in row.text and row.source == "compiler" for row in logged)


def test_a_job_is_refused_not_lost_while_the_compiler_is_down(
    settings: Settings, tmp_path: Path
) -> None:
    """The submitter hears UNAVAILABLE (the indexer keeps the request and submits it again);
    nothing is queued, so nothing is resolved wrongly."""
    engine = make_engine(f"sqlite:///{tmp_path / 'coordinator.db'}")
    migrate(engine)
    down = f"127.0.0.1:{free_port()}"
    configured = settings.model_copy(update={"coordinator": settings.coordinator.model_copy(
        update={"compiler": down})})  # fmt: skip
    server, port = coordinator_server(configured, engine, "127.0.0.1:0")
    server.start()
    try:
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(
            grpc.insecure_channel(f"127.0.0.1:{port}")
        )
        spec = coordinator_pb2.JobSpec(
            origin=coordinator_pb2.JobOrigin(
                near=coordinator_pb2.NearRequest(contract_id="test", request_id=1)
            ),
            code_source=coordinator_pb2.CodeSource(
                repo="https://github.com/alice/hello", branch="main"
            ),
        )
        with pytest.raises(grpc.RpcError) as refused:
            stub.SubmitJob(coordinator_pb2.SubmitJobRequest(spec=spec), timeout=60)
        assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
        assert "the compiler did not answer" in str(refused.value.details())
        assert JobQueue(engine, lease_seconds=30, max_attempts=3).find("near:test:1") is None
    finally:
        server.stop(grace=None)
