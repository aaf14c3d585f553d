"""The executor's gRPC API (``outlayer.v1.ExecutorService``)."""

from __future__ import annotations

import grpc

from outlayer.config import Settings
from outlayer.errors import invalid_argument
from outlayer.grpcserver import ServiceBinding, create_server
from outlayer.limits import limits_from_proto
from outlayer.result import RESPONSE_FORMAT_FROM_PB
from outlayer.tls import identity_for
from outlayer.v1 import executor_pb2, executor_pb2_grpc
from services.executor.executor import ExecutionJob, Executor

SERVICE_NAME = "outlayer.v1.ExecutorService"
# Execute runs any module unbilled: only the coordinator and operators' tools may ask (executors
# get their jobs by leasing them from the coordinator). The mesh interceptor checks it.
PERMISSIONS = {"Execute": frozenset({"coordinator", "operator"})}


class ExecutorService(executor_pb2_grpc.ExecutorServiceServicer):
    def __init__(self, executor: Executor) -> None:
        self._executor = executor

    def Execute(
        self, request: executor_pb2.ExecuteRequest, context: grpc.ServicerContext
    ) -> executor_pb2.ExecuteResponse:
        result = self._executor.execute(job_from_request(request))  # OutlayerError: a status
        return executor_pb2.ExecuteResponse(result=result.to_proto())


def job_from_request(request: executor_pb2.ExecuteRequest) -> ExecutionJob:
    response_format = RESPONSE_FORMAT_FROM_PB.get(request.response_format)
    if response_format is None:
        raise invalid_argument(
            f"unknown response_format {request.response_format}; use TEXT, JSON or BYTES"
        )
    return ExecutionJob(
        wasm=request.wasm,
        input=request.input,
        env=dict(request.env),
        limits=limits_from_proto(request.limits),
        response_format=response_format,
    )


def build_server(
    settings: Settings, executor: Executor, listen: str | None = None
) -> tuple[grpc.Server, int]:
    """The executor's server, with mTLS unless ``tls.enabled`` is off."""
    identity = identity_for(settings.tls, "executor")
    binding = ServiceBinding(
        SERVICE_NAME,
        executor_pb2_grpc.add_ExecutorServiceServicer_to_server,
        ExecutorService(executor),
        PERMISSIONS,
    )
    # A few more threads than execution slots, so health checks answer while all slots are busy.
    credentials = identity.server_credentials() if identity else None
    return create_server(
        listen or settings.executor.listen,
        [binding],
        settings.executor.max_concurrent + 4,
        credentials,
    )
