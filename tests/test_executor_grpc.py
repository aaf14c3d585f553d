"""The executor's gRPC API over a real channel: results, refusals, health and reflection."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from outlayer.config import Settings
from outlayer.result import ExecutionResult, ExecutionStatus
from outlayer.v1 import execution_pb2, executor_pb2, executor_pb2_grpc
from services.executor import Executor
from services.executor.service import SERVICE_NAME, build_server
from tests.conftest import built_guest, wat_guest


@pytest.fixture(scope="module")
def channel(settings: Settings, executor: Executor) -> Iterator[grpc.Channel]:
    server, port = build_server(settings, executor, "127.0.0.1:0")
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as chan:
        yield chan
    server.stop(grace=None)


def test_execute_returns_the_result(channel: grpc.Channel) -> None:
    stub = executor_pb2_grpc.ExecutorServiceStub(channel)
    response = stub.Execute(
        executor_pb2.ExecuteRequest(
            wasm=built_guest("echo_json_rust"),
            input=b"from grpc",
            env={"GREETING": "hey"},
            response_format=execution_pb2.RESPONSE_FORMAT_JSON,
        )
    )
    result = ExecutionResult.from_proto(response.result)
    assert result.status is ExecutionStatus.SUCCESS
    assert result.output["input"] == "from grpc"
    assert result.output["greeting"] == "hey"
    assert json.loads(response.result.output_json)["language"] == "rust"
    assert response.result.exit_code == 0


def test_failed_guest_is_ok_status_with_failed_result(channel: grpc.Channel) -> None:
    stub = executor_pb2_grpc.ExecutorServiceStub(channel)
    response = stub.Execute(
        executor_pb2.ExecuteRequest(
            wasm=wat_guest("infinite_loop"),
            limits=execution_pb2.ResourceLimits(max_instructions=1000),
        )
    )
    assert response.result.status == execution_pb2.EXECUTION_STATUS_FAILED
    assert response.result.error.type == execution_pb2.EXECUTION_ERROR_TYPE_INSTRUCTION_LIMIT
    assert response.result.resources_used.instructions == 1000
    assert not response.result.HasField("exit_code")


@pytest.mark.parametrize(
    ("request_", "expected"),
    [
        (
            executor_pb2.ExecuteRequest(
                wasm=b"\0asm", limits=execution_pb2.ResourceLimits(max_instructions=10**12)
            ),
            "max_instructions=1000000000000 is above the cap of 100000000000",
        ),
        (
            executor_pb2.ExecuteRequest(
                wasm=b"\0asm", limits=execution_pb2.ResourceLimits(max_execution_seconds=61)
            ),
            "above the cap of 60",
        ),
        (executor_pb2.ExecuteRequest(), "wasm is empty"),
        (executor_pb2.ExecuteRequest(wasm=b"\0asm", env={"A=B": "x"}), "'A=B' is invalid"),
        (
            executor_pb2.ExecuteRequest(
                wasm=b"\0asm", response_format=execution_pb2.ResponseFormat.ValueType(99)
            ),
            "unknown response_format",
        ),
    ],
)
def test_bad_requests_are_invalid_argument(
    channel: grpc.Channel, request_: executor_pb2.ExecuteRequest, expected: str
) -> None:
    stub = executor_pb2_grpc.ExecutorServiceStub(channel)
    with pytest.raises(grpc.RpcError) as raised:
        stub.Execute(request_)
    error = raised.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert expected in (error.details() or "")


def test_health_reports_serving(channel: grpc.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for service in ("", SERVICE_NAME):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as raised:
        stub.Check(health_pb2.HealthCheckRequest(service="outlayer.v1.NoSuchService"))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND


def test_reflection_lists_the_service(channel: grpc.Channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    replies = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = {service.name for reply in replies for service in reply.list_services_response.service}
    assert SERVICE_NAME in names
