"""Two coordinator servers (replicas) on one PostgreSQL, over real gRPC: a job submitted to one
is long-polled, leased and completed through the other, and read back finished from the first."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from sqlalchemy import Engine

from outlayer.config import Settings
from outlayer.result import ExecutionResult, ExecutionStatus
from outlayer.v1 import coordinator_pb2 as pb
from outlayer.v1 import coordinator_pb2_grpc
from services.coordinator.database import make_engine
from services.coordinator.service import build_server
from services.coordinator.workers import register_worker
from tests.origins import https_call

BOUND_S = 60.0  # failure bound only


@dataclass
class Replica:
    stub: coordinator_pb2_grpc.CoordinatorServiceStub
    auth: tuple[tuple[str, str], ...]


@pytest.fixture
def replicas(
    database_url: str, engine: Engine, settings: Settings
) -> Iterator[tuple[Replica, Replica]]:
    other = make_engine(database_url)
    token = register_worker(engine, "executor-1")
    auth = (("authorization", f"Bearer {token}"),)
    servers: list[grpc.Server] = []
    channels: list[grpc.Channel] = []
    replicas: list[Replica] = []
    for database in (engine, other):
        server, port = build_server(settings, database, "127.0.0.1:0")
        server.start()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        servers.append(server)
        channels.append(channel)
        replicas.append(Replica(coordinator_pb2_grpc.CoordinatorServiceStub(channel), auth))
    yield replicas[0], replicas[1]
    for channel in channels:
        channel.close()
    for server in servers:
        server.stop(grace=None)
    other.dispose()


def submit(replica: Replica, call_id: str) -> pb.SubmitJobResponse:
    spec = pb.JobSpec(origin=https_call(call_id), wasm_sha256="ab" * 32)
    return replica.stub.SubmitJob(pb.SubmitJobRequest(spec=spec))


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_job_submitted_to_one_replica_runs_through_the_other(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    answer: list[Any] = []
    poll = threading.Thread(
        target=lambda: answer.append(
            b.stub.LeaseJob(pb.LeaseJobRequest(wait_seconds=10), metadata=b.auth, timeout=BOUND_S)
        ),
        daemon=True,
    )
    poll.start()  # B's long poll, whether it starts waiting before or after the submission
    submitted = submit(a, "call-1")
    assert submitted.created
    assert not submit(b, "call-1").created  # the same call through the other replica: one job
    poll.join(BOUND_S)
    assert not poll.is_alive() and answer
    leased = answer[0]
    if not leased.has_job:  # B's poll ran out before A's job was queued: ask again
        leased = b.stub.LeaseJob(pb.LeaseJobRequest(), metadata=b.auth)
    assert leased.has_job and leased.job_id == submitted.job_id and leased.attempt == 1
    assert not a.stub.LeaseJob(pb.LeaseJobRequest(), metadata=a.auth).has_job  # leased once
    result = ExecutionResult(ExecutionStatus.SUCCESS, {"ran": "on b"}, exit_code=0).to_proto()
    completed = b.stub.CompleteJob(
        pb.CompleteJobRequest(job_id=leased.job_id, result=result), metadata=b.auth
    )
    assert completed.first
    status = a.stub.GetJob(pb.GetJobRequest(job_id=submitted.job_id))
    assert status.status == "done"
    assert ExecutionResult.from_proto(status.result).output == {"ran": "on b"}
    again = a.stub.CompleteJob(  # a late completion through A: the first one stands
        pb.CompleteJobRequest(job_id=leased.job_id, result=result), metadata=a.auth
    )
    assert not again.first
