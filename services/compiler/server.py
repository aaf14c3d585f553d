"""Assembles the compiler: the engine, its sandbox, the gRPC server and the eviction sweep."""

from __future__ import annotations

import logging
import threading
import time

import grpc

from outlayer.config import Settings
from outlayer.grpcserver import ServiceBinding, create_server
from outlayer.tls import identity_for
from outlayer.v1 import compiler_pb2, compiler_pb2_grpc
from services.compiler.builder import Compiler
from services.compiler.cache import EvictionPolicy, run_eviction
from services.compiler.sandbox import Sandbox
from services.compiler.service import PERMISSIONS, CompilerService

SERVICE_NAME = compiler_pb2.DESCRIPTOR.services_by_name["CompilerService"].full_name
_LOG = logging.getLogger("outlayer.compiler")


def eviction_policy(settings: Settings) -> EvictionPolicy:
    config = settings.compiler
    return EvictionPolicy(
        max_bytes=config.cache_max_mb * 2**20,
        min_free_fraction=config.cache_min_free_disk_percent / 100,
    )


def build_server(
    settings: Settings, listen: str | None = None, sandbox: Sandbox | None = None
) -> tuple[grpc.Server, int, Compiler]:
    compiler = Compiler(settings.compiler, sandbox)
    compiler.sandbox.check()  # a missing engine or image is said at start, not per build
    servicer = CompilerService(compiler, settings.save_system_hidden_logs_to_debug)
    # Compile may wait for a build (compile-then-run): those waits get a pool of their own.
    binding = ServiceBinding(
        SERVICE_NAME,
        compiler_pb2_grpc.add_CompilerServiceServicer_to_server,
        servicer,
        PERMISSIONS,
        frozenset({"Compile"}),
    )
    identity = identity_for(settings.tls, "compiler")
    credentials = identity.server_credentials() if identity else None
    server, port = create_server(listen or settings.compiler.listen, [binding], 16, credentials)
    return server, port, compiler


def sweep_forever(compiler: Compiler, policy: EvictionPolicy, interval: float,
                  stop: threading.Event) -> None:  # fmt: skip
    """Evicts by the retention rules every ``interval`` seconds until ``stop`` is set."""
    while not stop.wait(interval):
        for entry, reason in run_eviction(compiler.cache, policy, time.time()):
            _LOG.info("evicted sha256:%s (%s): %s", entry.checksum, entry.repo, reason)
