"""Builds a gRPC server the way every OutLayer service wants it: health checking, reflection,
message sizes large enough for WASM modules, a bounded thread pool, and the mesh interceptor
(:mod:`outlayer.interceptor`: each service's permission table, errors as typed statuses)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from outlayer.errors import ErrorCode, OutlayerError
from outlayer.interceptor import MeshInterceptor, Permissions
from outlayer.telemetry import server_interceptors

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
]


@dataclass(frozen=True)
class ServiceBinding:
    full_name: str  # e.g. "outlayer.v1.ExecutorService"
    register: Callable[[Any, grpc.Server], None]
    servicer: Any
    # Method name → the mesh identities that may call it; None: the service checks itself.
    permissions: Permissions | None = None
    # Methods that wait (for a job's result): they run on a pool of their own, so waiting
    # callers never take the threads the service's other callers need.
    slow_methods: frozenset[str] = field(default_factory=frozenset)


LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")


def create_server(
    listen: str,
    bindings: Sequence[ServiceBinding],
    max_workers: int,
    credentials: grpc.ServerCredentials | None,
    slow_workers: int = 256,
) -> tuple[grpc.Server, int]:
    """Returns the server (not yet started) and the port it bound (useful with port 0).

    Without ``credentials`` (mTLS disabled) it listens only on loopback. ``slow_workers``: the
    size of the pool the bindings' slow methods run on (created only when one has some)."""
    host = listen.rsplit(":", 1)[0]
    if credentials is None and host not in LOOPBACK_HOSTS:
        raise OutlayerError(
            ErrorCode.CONFIGURATION,
            f"refusing to serve without mTLS on {listen}: enable tls (see `outlayer dev certs`) "
            "or listen on 127.0.0.1",
        )
    slow = frozenset(f"/{b.full_name}/{m}" for b in bindings for m in b.slow_methods)
    slow_pool = None
    if slow:
        slow_pool = futures.ThreadPoolExecutor(slow_workers, thread_name_prefix="grpc-wait")
    mesh = MeshInterceptor(
        {b.full_name: b.permissions for b in bindings if b.permissions is not None},
        slow,
        slow_pool,
    )
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        options=GRPC_OPTIONS,
        # The mesh interceptor first (outermost): grpc reads a slow method's pool from the
        # handler it is finally given. Then traces: one per request, across services.
        interceptors=[mesh, *server_interceptors()],
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for binding in bindings:
        binding.register(binding.servicer, server)
        health_servicer.set(binding.full_name, health_pb2.HealthCheckResponse.SERVING)
    health_servicer.set("", health_pb2.HealthCheckResponse.SERVING)
    names = [b.full_name for b in bindings] + [health.SERVICE_NAME, reflection.SERVICE_NAME]
    reflection.enable_server_reflection(names, server)
    try:
        if credentials is None:
            port = server.add_insecure_port(listen)
        else:
            port = server.add_secure_port(listen, credentials)
    except RuntimeError as exc:
        port = 0
        detail = str(exc)
    else:
        detail = ""
    if port == 0:
        raise OutlayerError(
            ErrorCode.UNAVAILABLE,
            f"cannot listen on {listen} {detail}: is another process using it? "
            "Choose another address with the service's listen setting",
        )
    return server, port
