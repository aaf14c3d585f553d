"""The executor, assembled: the Execute API, and (when a coordinator is configured) the runner
that leases jobs, fetches their modules and secrets, and reports results."""

from __future__ import annotations

import sys
import threading

from outlayer.config import Settings
from outlayer.errors import ErrorCode, OutlayerError
from outlayer.grpcclient import open_channel
from outlayer.v1 import compiler_pb2_grpc
from outlayer.wasmstore import WasmStore
from services.executor.capabilities.for_jobs import JobCapabilities
from services.executor.executor import Executor
from services.executor.modules import ModuleSource
from services.executor.runner import JobRunner
from services.executor.secrets import KeystoreSecrets
from services.executor.service import build_server


def serve(settings: Settings, listen: str | None, stop: threading.Event) -> None:
    """Serves until ``stop`` is set; a job being run is finished first."""
    with Executor(settings) as executor:
        server, port = build_server(settings, executor, listen)
        server.start()
        runner_threads = start_runner(settings, executor, stop)
        host = (listen or settings.executor.listen).rsplit(":", 1)[0]
        print(f"outlayer executor: serving outlayer.v1.ExecutorService on {host}:{port}",
              file=sys.stderr, flush=True)  # fmt: skip
        stop.wait()
        for thread in runner_threads:
            thread.join(timeout=settings.limits.max_execution_seconds + 5)
        server.stop(grace=5).wait()


def start_runner(
    settings: Settings, executor: Executor, stop: threading.Event
) -> list[threading.Thread]:
    """Leases jobs from the coordinator when executor.coordinator is set: one thread per
    execution slot (``executor.max_concurrent``), each leasing and running one job at a time,
    so that one job's lease and completion (round trips to the coordinator) overlap another's
    run."""
    target = settings.executor.coordinator
    if not target:
        print("outlayer executor: no executor.coordinator set; serving Execute only",
              file=sys.stderr)  # fmt: skip
        return []
    token_file = settings.executor.worker_token_file
    if token_file is None or not token_file.is_file():
        raise OutlayerError(
            ErrorCode.CONFIGURATION,
            "executor.worker_token_file must name a file holding this worker's token "
            "(`outlayer coordinator add-worker NAME` prints one)",
        )
    channel = open_channel(target, settings.tls, "executor", "coordinator")
    keystore = settings.executor.keystore
    secrets = KeystoreSecrets(keystore, settings.tls, settings.attestation) if keystore else None
    store = WasmStore(settings.coordinator.wasm_store_dir)
    compiler = None
    if settings.executor.compiler:
        compiler = compiler_pb2_grpc.CompilerServiceStub(
            open_channel(settings.executor.compiler, settings.tls, "executor", "compiler")
        )
    token = token_file.read_text().strip()
    capabilities = JobCapabilities(settings, channel, token)
    runner = JobRunner(
        executor,
        channel,
        token,
        ModuleSource(store, compiler),
        secrets=secrets,
        capabilities=capabilities,
    )
    threads = [
        threading.Thread(target=runner.run_forever, args=(stop,), name=f"job-runner-{n}")
        for n in range(settings.executor.max_concurrent)
    ]
    for thread in threads:
        thread.start()
    print(f"outlayer executor: leasing jobs from {target} ({len(threads)} at a time)",
          file=sys.stderr, flush=True)  # fmt: skip
    return threads
