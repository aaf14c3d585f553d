"""Coordinator and executor over real gRPC: jobs run once, survive dead workers, refuse others."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from sqlalchemy import Engine

from outlayer.config import Settings
from outlayer.platform_env import RESERVED
from outlayer.result import ExecutionResult
from outlayer.v1 import coordinator_pb2 as pb
from outlayer.v1 import coordinator_pb2_grpc, execution_pb2
from outlayer.wasmstore import WasmStore
from services.coordinator.service import build_server
from services.coordinator.workers import register_worker, revoke_worker
from services.executor import Executor
from services.executor.app import start_runner
from services.executor.runner import JobRunner, RunOutcome
from tests.conftest import built_guest, wat_guest
from tests.origins import https_call, near_request


@dataclass
class Mesh:
    channel: grpc.Channel
    stub: coordinator_pb2_grpc.CoordinatorServiceStub
    engine: Engine
    store: WasmStore
    token: str
    target: str

    def runner(self, executor: Executor) -> JobRunner:
        return JobRunner(executor, self.channel, self.token, self.store)

    def auth(self, token: str | None = None) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {token or self.token}"),)

    def submit(self, origin: pb.JobOrigin, wasm: bytes, **fields: object) -> pb.SubmitJobResponse:
        digest = self.store.put(wasm)
        spec = pb.JobSpec(origin=origin, wasm_sha256=digest, **fields)  # type: ignore[arg-type]
        return self.stub.SubmitJob(pb.SubmitJobRequest(spec=spec))


@pytest.fixture
def mesh(engine: Engine, settings: Settings, tmp_path: Path) -> Iterator[Mesh]:
    fast = settings.model_copy(
        update={"coordinator": settings.coordinator.model_copy(update={"lease_seconds": 1.0})}
    )
    server, port = build_server(fast, engine, "127.0.0.1:0")
    server.start()
    token = register_worker(engine, "executor-1")
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
        yield Mesh(channel, stub, engine, WasmStore(tmp_path / "wasm"), token, f"127.0.0.1:{port}")
    server.stop(grace=None)


def test_a_submitted_job_runs_once_with_its_platform_env(mesh: Mesh, executor: Executor) -> None:
    submitted = mesh.submit(
        https_call("call-1", project_owner="alice.test", project_name="echo"),
        built_guest("echo_json_rust"),
        input=b"hello",
        response_format=execution_pb2.RESPONSE_FORMAT_JSON,
    )
    assert submitted.created
    outcome = mesh.runner(executor).run_once()
    assert outcome is not None and outcome.first and outcome.job_id == submitted.job_id
    assert outcome.result.ok
    assert outcome.result.output["input"] == "hello"
    assert outcome.result.output["env_names"] == sorted(RESERVED)  # every one, from the origin
    status = mesh.stub.GetJob(pb.GetJobRequest(job_id=submitted.job_id))
    assert status.status == "done" and status.attempts == 1
    assert ExecutionResult.from_proto(status.result) == outcome.result
    assert mesh.runner(executor).run_once() is None  # nothing left


def test_resubmitting_the_same_key_does_not_double_the_job(mesh: Mesh) -> None:
    first = mesh.submit(near_request("outlayer.test", 7), wat_guest("hello"))
    again = mesh.submit(near_request("outlayer.test", 7, sender_id="x.test"), wat_guest("hello"))
    other = mesh.submit(near_request("other.test", 7), wat_guest("hello"))
    assert first.created and not again.created and again.job_id == first.job_id
    assert other.created and other.job_id != first.job_id  # another contract's request 7


def test_a_dead_worker_s_job_is_retried_and_resolved_once(mesh: Mesh, executor: Executor) -> None:
    submitted = mesh.submit(https_call("call-2"), wat_guest("hello"))
    # A worker leases the job and dies: it never heartbeats or completes.
    lost = mesh.stub.LeaseJob(pb.LeaseJobRequest(), metadata=mesh.auth())
    assert lost.has_job and lost.job_id == submitted.job_id
    time.sleep(1.2)  # the 1 s lease expires
    outcome = mesh.runner(executor).run_once()
    assert outcome is not None and outcome.first and outcome.result.output == "hello\n"
    status = mesh.stub.GetJob(pb.GetJobRequest(job_id=submitted.job_id))
    assert status.status == "done" and status.attempts == 2
    # The first worker comes back with a different answer: the first completion stands.
    late = ExecutionResult.from_json({"status": "success", "output": "stale"}).to_proto()
    reply = mesh.stub.CompleteJob(
        pb.CompleteJobRequest(job_id=submitted.job_id, result=late), metadata=mesh.auth()
    )
    assert not reply.first and ExecutionResult.from_proto(reply.result).output == "hello\n"


def test_jobs_run_at_once_keep_their_leases_past_the_lease_time(
    mesh: Mesh, executor: Executor
) -> None:
    # Two jobs of 2.5 s each on one runner (two of its threads), with leases of 1 s: its one
    # heartbeat thread keeps both leases, so neither is taken back and run again elsewhere.
    sleepy = [
        mesh.submit(https_call(f"sleepy-{n}"), wat_guest("sleep_in_host_call"), input=bytes([25]))
        for n in range(2)
    ]
    runner = mesh.runner(executor)
    outcomes: list[RunOutcome | None] = []
    threads = [threading.Thread(target=lambda: outcomes.append(runner.run_once())) for _ in sleepy]
    for thread in threads:
        thread.start()
    time.sleep(1.8)  # both leases would have expired by now without heartbeats
    thief = mesh.stub.LeaseJob(pb.LeaseJobRequest(), metadata=mesh.auth())
    assert not thief.has_job
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(o.job_id for o in outcomes if o is not None and o.first) == sorted(
        s.job_id for s in sleepy
    )
    for submitted in sleepy:
        status = mesh.stub.GetJob(pb.GetJobRequest(job_id=submitted.job_id))
        assert status.status == "done" and status.attempts == 1


def test_an_executor_runs_as_many_jobs_at_once_as_it_has_slots(
    mesh: Mesh, executor: Executor, settings: Settings, tmp_path: Path
) -> None:
    token_file = tmp_path / "worker.token"
    token_file.write_text(mesh.token)
    served = settings.model_copy(update={
        "executor": settings.executor.model_copy(update={
            "coordinator": mesh.target, "worker_token_file": token_file, "max_concurrent": 2,
        }),
        "coordinator": settings.coordinator.model_copy(
            update={"wasm_store_dir": mesh.store.directory}
        ),
    })  # fmt: skip
    sleepy = [
        mesh.submit(https_call(f"slot-{n}"), wat_guest("sleep_in_host_call"), input=bytes([25]))
        for n in range(2)
    ]
    stop = threading.Event()
    threads = start_runner(served, executor, stop)
    try:
        assert len(threads) == 2
        both_leased = False
        for _ in range(200):  # each job runs 2.5 s: both are leased at once, or one waits
            states = [mesh.stub.GetJob(pb.GetJobRequest(job_id=s.job_id)).status for s in sleepy]
            if states == ["leased", "leased"]:
                both_leased = True
                break
            time.sleep(0.01)
        assert both_leased, states
        for submitted in sleepy:
            for _ in range(1500):
                status = mesh.stub.GetJob(pb.GetJobRequest(job_id=submitted.job_id))
                if status.status == "done":
                    break
                time.sleep(0.01)
            assert status.status == "done" and status.attempts == 1
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=10)


def test_a_worker_gone_while_it_waited_is_leased_no_job(mesh: Mesh) -> None:
    # An executor that dies during its long poll: the coordinator must not lease it the next
    # job (which would wait out a lease, and lose an attempt, before anyone ran it).
    gone = grpc.insecure_channel(mesh.target)
    waiting = coordinator_pb2_grpc.CoordinatorServiceStub(gone).LeaseJob.future(
        pb.LeaseJobRequest(wait_seconds=8), metadata=mesh.auth()
    )
    time.sleep(0.3)  # its wait has begun in the coordinator
    gone.close()  # the worker goes away: its call is cancelled
    assert waiting.cancelled() or waiting.done()
    time.sleep(0.3)
    submitted = mesh.submit(https_call("orphaned"), wat_guest("hello"))
    lease = mesh.stub.LeaseJob(pb.LeaseJobRequest(wait_seconds=5), metadata=mesh.auth())
    assert lease.has_job and lease.job_id == submitted.job_id
    assert lease.attempt == 1  # the first lease, not one taken back from the gone worker


def test_a_missing_module_fails_the_job_without_retries(mesh: Mesh, executor: Executor) -> None:
    spec = pb.JobSpec(origin=https_call("call-3"), wasm_sha256="ab" * 32)
    job_id = mesh.stub.SubmitJob(pb.SubmitJobRequest(spec=spec)).job_id
    outcome = mesh.runner(executor).run_once()
    assert outcome is not None and outcome.job_id == job_id
    assert outcome.result.error is not None
    assert outcome.result.error.type.value == "module_not_found"
    assert "is not on this platform" in outcome.result.error.message


def test_workers_need_a_valid_token(mesh: Mesh) -> None:
    for metadata in ((), (("authorization", "Bearer olw_wrong"),), (("authorization", "x"),)):
        with pytest.raises(grpc.RpcError) as raised:
            mesh.stub.LeaseJob(pb.LeaseJobRequest(), metadata=metadata)
        assert raised.value.code() == grpc.StatusCode.UNAUTHENTICATED
    revoke_worker(mesh.engine, "executor-1")
    with pytest.raises(grpc.RpcError) as revoked:
        mesh.stub.LeaseJob(pb.LeaseJobRequest(), metadata=mesh.auth())
    assert revoked.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (pb.JobSpec(wasm_sha256="ab" * 32), "near request or an https call"),
        (pb.JobSpec(origin=https_call(""), wasm_sha256="ab" * 32), "call_id is required"),
        (pb.JobSpec(origin=near_request("", 1), wasm_sha256="ab" * 32), "contract_id"),
        (pb.JobSpec(origin=https_call("x" * 300), wasm_sha256="ab" * 32), "too long"),
        (pb.JobSpec(origin=https_call("k"), wasm_sha256="abc"), "SHA-256"),
        (pb.JobSpec(origin=https_call("k")), "wasm_sha256 or code_source"),
        (
            pb.JobSpec(
                origin=https_call("k"), wasm_sha256="ab" * 32,
                limits=execution_pb2.ResourceLimits(max_instructions=10**12),
            ),
            "above the cap",
        ),
    ],
)  # fmt: skip
def test_bad_jobs_are_refused_at_submission(mesh: Mesh, spec: pb.JobSpec, message: str) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        mesh.stub.SubmitJob(pb.SubmitJobRequest(spec=spec))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert message in (raised.value.details() or "")


_A_TX_HASH = "2" * 44  # 32 bytes in base58


@pytest.mark.parametrize(
    ("job_id", "tx_hash"),
    [
        (0, _A_TX_HASH),
        (2**63, _A_TX_HASH),
        (1, ""),
        (1, "0" * 44),
        (1, "x" * 45),
        (1, "short"),
        (1, "1" * 44),
        (1, "2" * 43 + "!"),
    ],
)
def test_a_bad_resolve_attempt_is_refused(mesh: Mesh, job_id: int, tx_hash: str) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        mesh.stub.RecordResolveAttempt(pb.RecordResolveAttemptRequest(job_id=job_id,
                                                                      tx_hash=tx_hash))  # fmt: skip
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "job_id and a tx_hash (base58" in (raised.value.details() or "")


def test_a_resolve_attempt_of_a_job_not_made_on_chain_records_nothing(mesh: Mesh) -> None:
    job = mesh.submit(https_call("k"), wat_guest("hello")).job_id
    for _ in range(2):
        answer = mesh.stub.RecordResolveAttempt(pb.RecordResolveAttemptRequest(
            job_id=job, tx_hash=_A_TX_HASH))  # fmt: skip
        assert list(answer.earlier_tx_hashes) == []


def test_with_mtls_each_service_may_call_only_its_own_methods(
    engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    from outlayer.tls import ensure_dev_pki, identity_in

    ensure_dev_pki(tmp_path, ("coordinator", "executor", "edge", "indexer"))
    secure = settings.model_copy(
        update={"tls": settings.tls.model_copy(update={"enabled": True, "dir": tmp_path})}
    )
    server, port = build_server(secure, engine, "127.0.0.1:0")
    server.start()
    token = register_worker(engine, "executor-1")
    options = [("grpc.ssl_target_name_override", "coordinator.outlayer.internal")]
    spec = pb.JobSpec(origin=https_call("k"), wasm_sha256="ab" * 32)
    auth = (("authorization", f"Bearer {token}"),)
    try:
        for service, may_submit, may_lease in (("edge", True, False), ("executor", False, True)):
            creds = identity_in(tmp_path, service).channel_credentials()
            with grpc.secure_channel(f"127.0.0.1:{port}", creds, options) as channel:
                stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
                submit = _outcome(stub.SubmitJob, pb.SubmitJobRequest(spec=spec), ())
                lease = _outcome(stub.LeaseJob, pb.LeaseJobRequest(), auth)
                denied = grpc.StatusCode.PERMISSION_DENIED
                assert submit == (grpc.StatusCode.OK if may_submit else denied), service
                assert lease == (grpc.StatusCode.OK if may_lease else denied), service
                attempt = pb.RecordResolveAttemptRequest(job_id=1, tx_hash=_A_TX_HASH)
                assert _outcome(stub.RecordResolveAttempt, attempt, ()) == denied, service
        creds = identity_in(tmp_path, "indexer").channel_credentials()
        with grpc.secure_channel(f"127.0.0.1:{port}", creds, options) as channel:
            stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
            attempt = pb.RecordResolveAttemptRequest(job_id=1, tx_hash=_A_TX_HASH)
            assert _outcome(stub.RecordResolveAttempt, attempt, ()) == grpc.StatusCode.OK
            assert _outcome(stub.LeaseJob, pb.LeaseJobRequest(), auth) == denied
    finally:
        server.stop(grace=None)


def _outcome(method: object, request: object, metadata: tuple[tuple[str, str], ...]) -> object:
    try:
        method(request, metadata=metadata)  # type: ignore[operator]
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK
