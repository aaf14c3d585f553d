"""The real commands as an operator runs them: `outlayer coordinator serve`, `add-worker` and
`outlayer executor serve`, over mTLS with development certificates; an executor killed mid-job
loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from devtools.ports import free_port
from outlayer.config import TlsSettings
from outlayer.grpcclient import open_channel
from outlayer.v1 import coordinator_pb2 as pb
from outlayer.v1 import coordinator_pb2_grpc, execution_pb2
from outlayer.wasmstore import WasmStore
from tests.conftest import wat_guest
from tests.origins import https_call


class Stack:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.coordinator_port = free_port()
        self.env = {
            **os.environ,
            "OUTLAYER_DATABASE_URL": f"sqlite:///{root / 'coordinator.db'}",
            "OUTLAYER_TLS__DIR": str(root / "pki"),
            "OUTLAYER_COORDINATOR__WASM_STORE_DIR": str(root / "wasm"),
            "OUTLAYER_COORDINATOR__LEASE_SECONDS": "1",
            "OUTLAYER_COORDINATOR__ADMIN_LISTEN": "127.0.0.1:0",
            "OUTLAYER_EXECUTOR__MODULE_CACHE_DIR": str(root / "modules"),
            "OUTLAYER_EXECUTOR__COORDINATOR": f"127.0.0.1:{self.coordinator_port}",
            "OUTLAYER_EXECUTOR__WORKER_TOKEN_FILE": str(root / "worker.token"),
        }
        self.processes: list[subprocess.Popen[bytes]] = []

    def outlayer(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli.main", *args], env=self.env,
                              capture_output=True, text=True, timeout=60, check=True)  # fmt: skip

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        process = subprocess.Popen([sys.executable, "-m", "cli.main", *args],
                                   env=self.env, stderr=subprocess.PIPE)  # fmt: skip
        self.processes.append(process)
        return process

    def stub(self) -> coordinator_pb2_grpc.CoordinatorServiceStub:
        tls = TlsSettings(dir=self.root / "pki")
        channel = open_channel(f"127.0.0.1:{self.coordinator_port}", tls, "edge", "coordinator")
        grpc.channel_ready_future(channel).result(timeout=30)
        return coordinator_pb2_grpc.CoordinatorServiceStub(channel)

    def wait_done(
        self, stub: coordinator_pb2_grpc.CoordinatorServiceStub, job_id: int
    ) -> pb.JobStatus:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = stub.GetJob(pb.GetJobRequest(job_id=job_id))
            if status.status in ("done", "failed"):
                return status
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} did not finish: {status}")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(tmp_path)
    stack.outlayer("dev", "certs")
    token = stack.outlayer("coordinator", "add-worker", "executor-1").stdout.strip()
    (tmp_path / "worker.token").write_text(token)
    stack.start("coordinator", "serve", "--listen", f"127.0.0.1:{stack.coordinator_port}")
    yield stack
    for process in stack.processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def submit(stack: Stack, stub: coordinator_pb2_grpc.CoordinatorServiceStub, guest: str,
           call_id: str, data: bytes = b"") -> int:  # fmt: skip
    digest = WasmStore(stack.root / "wasm").put(wat_guest(guest))
    spec = pb.JobSpec(origin=https_call(call_id), wasm_sha256=digest, input=data,
                      limits=execution_pb2.ResourceLimits(max_execution_seconds=20))  # fmt: skip
    return stub.SubmitJob(pb.SubmitJobRequest(spec=spec)).job_id


def test_an_executor_runs_queued_jobs_over_mtls(stack: Stack) -> None:
    stub = stack.stub()
    job_id = submit(stack, stub, "hello", "one")
    stack.start("executor", "serve", "--listen", f"127.0.0.1:{free_port()}")
    status = stack.wait_done(stub, job_id)
    assert status.status == "done" and status.result.output_json == '"hello\\n"'


def test_an_executor_killed_mid_job_loses_nothing(stack: Stack) -> None:
    stub = stack.stub()
    job_id = submit(stack, stub, "sleep_in_host_call", "sleepy", bytes([20]))  # sleeps 2 s
    first = stack.start("executor", "serve", "--listen", f"127.0.0.1:{free_port()}")
    deadline = time.monotonic() + 30
    while stub.GetJob(pb.GetJobRequest(job_id=job_id)).status != "leased":
        assert time.monotonic() < deadline, "the first executor never leased the job"
        time.sleep(0.05)
    first.kill()  # mid-job: no result, no heartbeats from now on
    first.wait()
    stack.start("executor", "serve", "--listen", f"127.0.0.1:{free_port()}")
    status = stack.wait_done(stub, job_id)
    assert status.status == "done", status
    assert status.attempts == 2
    assert status.result.status == execution_pb2.EXECUTION_STATUS_SUCCESS
