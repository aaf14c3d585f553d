"""The mesh interceptor over real mTLS: each service's permission table decides which
certificate identity may call which method, and refusals carry a typed google.rpc.Status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2  # type: ignore[import-untyped]
from grpc_status import rpc_status
from sqlalchemy import Engine

from outlayer.config import Settings
from outlayer.errors import ErrorCode, OutlayerError
from outlayer.grpcserver import ServiceBinding, create_server
from outlayer.tls import SERVICES, ensure_dev_pki, identity_in
from outlayer.v1 import coordinator_pb2 as cpb
from outlayer.v1 import coordinator_pb2_grpc, executor_pb2, executor_pb2_grpc, public_pb2_grpc
from outlayer.v1 import public_pb2 as ppb
from services.coordinator.database import make_engine, migrate
from services.coordinator.service import build_server as coordinator_server
from services.executor import Executor
from services.executor.service import build_server as executor_server
from tests.conftest import wat_guest


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("mesh-pki")
    ensure_dev_pki(directory, SERVICES)
    return directory


def with_tls(settings: Settings, pki: Path) -> Settings:
    return settings.model_copy(
        update={"tls": settings.tls.model_copy(update={"dir": pki, "enabled": True})}
    )


def channel_as(pki: Path, me: str, port: int, peer: str) -> grpc.Channel:
    options = [("grpc.ssl_target_name_override", f"{peer}.outlayer.internal")]
    credentials = identity_in(pki, me).channel_credentials()
    return grpc.secure_channel(f"127.0.0.1:{port}", credentials, options)


@pytest.fixture(scope="module")
def executor_port(pki: Path, settings: Settings, executor: Executor) -> Iterator[int]:
    server, port = executor_server(with_tls(settings, pki), executor, "127.0.0.1:0")
    server.start()
    yield port
    server.stop(grace=None)


@pytest.fixture
def coordinator_port(pki: Path, settings: Settings, tmp_path: Path) -> Iterator[int]:
    engine: Engine = make_engine(f"sqlite:///{tmp_path / 'c.db'}")
    migrate(engine)
    server, port = coordinator_server(with_tls(settings, pki), engine, "127.0.0.1:0")
    server.start()
    yield port
    server.stop(grace=None)
    engine.dispose()


def refusal(exc: grpc.RpcError) -> tuple[grpc.StatusCode, str, str]:
    """The status code, its details, and the reason of the typed ErrorInfo it carries."""
    status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    assert status is not None, "no google.rpc.Status in the trailers"
    info = error_details_pb2.ErrorInfo()
    assert status.details and status.details[0].Unpack(info)
    return exc.code(), exc.details() or "", info.reason


def execute(pki: Path, me: str, port: int) -> executor_pb2.ExecuteResponse:
    with channel_as(pki, me, port, "executor") as channel:
        stub = executor_pb2_grpc.ExecutorServiceStub(channel)
        request = executor_pb2.ExecuteRequest(wasm=wat_guest("hello"))
        return stub.Execute(request, timeout=30)


@pytest.mark.parametrize("me", ["compiler", "edge", "indexer", "keystore", "executor"])
def test_execute_refuses_every_identity_but_the_coordinators_and_operators(
    pki: Path, executor_port: int, me: str
) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        execute(pki, me, executor_port)
    code, details, reason = refusal(refused.value)
    assert code is grpc.StatusCode.PERMISSION_DENIED
    assert reason == "permission_denied"
    assert f"the {me} identity may not call /outlayer.v1.ExecutorService/Execute" in details
    assert "allowed: coordinator, operator" in details


@pytest.mark.parametrize("me", ["coordinator", "operator"])
def test_execute_runs_for_the_coordinator_and_operators(
    pki: Path, executor_port: int, me: str
) -> None:
    answer = execute(pki, me, executor_port)
    assert answer.result.output_json == '"hello\\n"'


@pytest.mark.parametrize("me", ["compiler", "executor", "keystore", "operator"])
def test_get_job_refuses_all_but_the_submitters(pki: Path, coordinator_port: int, me: str) -> None:
    with channel_as(pki, me, coordinator_port, "coordinator") as channel:
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
        with pytest.raises(grpc.RpcError) as refused:
            stub.GetJob(cpb.GetJobRequest(job_id=1), timeout=10)
    code, details, reason = refusal(refused.value)
    assert code is grpc.StatusCode.PERMISSION_DENIED and reason == "permission_denied"
    assert "allowed: edge, indexer" in details


@pytest.mark.parametrize("me", ["edge", "indexer"])
def test_get_job_lets_the_submitters_in(pki: Path, coordinator_port: int, me: str) -> None:
    with channel_as(pki, me, coordinator_port, "coordinator") as channel:
        stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
        with pytest.raises(grpc.RpcError) as missing:  # let in: the job does not exist
            stub.GetJob(cpb.GetJobRequest(job_id=12345), timeout=10)
    code, details, reason = refusal(missing.value)
    assert code is grpc.StatusCode.NOT_FOUND and reason == "not_found"
    assert details == "not_found: no job 12345"


def test_the_public_api_answers_the_edge_only(pki: Path, coordinator_port: int) -> None:
    request = ppb.GetProjectRequest(owner="o", name="p")
    indexer = channel_as(pki, "indexer", coordinator_port, "coordinator")
    with indexer as channel, pytest.raises(grpc.RpcError) as refused:
        public_pb2_grpc.PublicServiceStub(channel).GetProject(request, timeout=10)
    assert refusal(refused.value)[0] is grpc.StatusCode.PERMISSION_DENIED
    edge = channel_as(pki, "edge", coordinator_port, "coordinator")
    with edge as channel, pytest.raises(grpc.RpcError) as missing:
        public_pb2_grpc.PublicServiceStub(channel).GetProject(request, timeout=10)
    assert refusal(missing.value)[:2] == (grpc.StatusCode.NOT_FOUND, "not_found: no project o/p")


def test_a_method_missing_from_its_table_is_refused_to_everyone(pki: Path) -> None:
    """Default deny: a table that forgets a method shuts it, rather than opening it."""
    identity = identity_in(pki, "coordinator")
    binding = ServiceBinding(
        "outlayer.v1.CoordinatorService",
        coordinator_pb2_grpc.add_CoordinatorServiceServicer_to_server,
        coordinator_pb2_grpc.CoordinatorServiceServicer(),  # type: ignore[abstract]
        {"SubmitJob": frozenset({"indexer"})},  # GetJob forgotten
    )
    server, port = create_server("127.0.0.1:0", [binding], 2, identity.server_credentials())
    server.start()
    try:
        with channel_as(pki, "edge", port, "coordinator") as channel:
            stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
            with pytest.raises(grpc.RpcError) as refused:
                stub.GetJob(cpb.GetJobRequest(job_id=1), timeout=10)
    finally:
        server.stop(grace=None)
    code, details, _ = refusal(refused.value)
    assert code is grpc.StatusCode.PERMISSION_DENIED
    assert "not in the permission table" in details


def test_an_unexpected_exception_is_internal_without_its_text(pki: Path) -> None:
    class Broken(coordinator_pb2_grpc.CoordinatorServiceServicer):
        def GetJob(  # noqa: N802 (the RPC's name)
            self, request: cpb.GetJobRequest, context: grpc.ServicerContext
        ) -> cpb.JobStatus:
            raise RuntimeError("secret internals")

    identity = identity_in(pki, "coordinator")
    binding = ServiceBinding(
        "outlayer.v1.CoordinatorService",
        coordinator_pb2_grpc.add_CoordinatorServiceServicer_to_server,
        Broken(),  # type: ignore[abstract]
        {"GetJob": frozenset({"edge"})},
    )
    server, port = create_server("127.0.0.1:0", [binding], 2, identity.server_credentials())
    server.start()
    try:
        with channel_as(pki, "edge", port, "coordinator") as channel:
            stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
            with pytest.raises(grpc.RpcError) as failed:
                stub.GetJob(cpb.GetJobRequest(job_id=1), timeout=10)
    finally:
        server.stop(grace=None)
    code, details, reason = refusal(failed.value)
    assert code is grpc.StatusCode.INTERNAL and reason == "internal"
    assert "secret internals" not in details


def test_a_refusal_quoting_a_long_input_keeps_its_status_and_is_cut(pki: Path) -> None:
    """gRPC caps a call's trailing metadata at 8 KiB: a message quoting a long input would
    otherwise turn the refusal into RESOURCE_EXHAUSTED (which the edge answers as 402)."""

    class Quoting(coordinator_pb2_grpc.CoordinatorServiceServicer):
        def GetJob(  # noqa: N802 (the RPC's name)
            self, request: cpb.GetJobRequest, context: grpc.ServicerContext
        ) -> cpb.JobStatus:
            raise OutlayerError(ErrorCode.NOT_FOUND, "no project " + "a" * 20_000)

    identity = identity_in(pki, "coordinator")
    binding = ServiceBinding(
        "outlayer.v1.CoordinatorService",
        coordinator_pb2_grpc.add_CoordinatorServiceServicer_to_server,
        Quoting(),  # type: ignore[abstract]
        {"GetJob": frozenset({"edge"})},
    )
    server, port = create_server("127.0.0.1:0", [binding], 2, identity.server_credentials())
    server.start()
    try:
        with channel_as(pki, "edge", port, "coordinator") as channel:
            stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
            with pytest.raises(grpc.RpcError) as failed:
                stub.GetJob(cpb.GetJobRequest(job_id=1), timeout=10)
    finally:
        server.stop(grace=None)
    code, details, reason = refusal(failed.value)
    assert code is grpc.StatusCode.NOT_FOUND and reason == "not_found"
    assert details.startswith("not_found: no project aaa") and len(details) < 1100
    assert details.endswith(f"({len('not_found: no project ') + 20_000 - 1000} more characters)")
