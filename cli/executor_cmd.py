"""``outlayer executor serve``: the executor's gRPC service."""

from __future__ import annotations

import argparse
import sys
import threading
from typing import Any

from outlayer.cli.signals import stop_on_signals
from outlayer.config import load_settings
from outlayer.telemetry import configure


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser("executor", help="the executor service")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser("serve", help="serve outlayer.v1.ExecutorService over gRPC")
    serve.add_argument("--listen", metavar="HOST:PORT", help="default: executor.listen setting")
    serve.set_defaults(handler=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    from services.executor import Executor
    from services.executor.service import build_server

    settings = load_settings()
    configure("executor", settings.telemetry)
    stop = stop_on_signals()
    with Executor(settings) as executor:
        server, port = build_server(settings, executor, args.listen)
        server.start()
        runner_thread = start_runner(settings, executor, stop)
        host = (args.listen or settings.executor.listen).rsplit(":", 1)[0]
        print(
            f"outlayer executor: serving outlayer.v1.ExecutorService on {host}:{port}",
            file=sys.stderr,
            flush=True,
        )
        stop.wait()
        if runner_thread is not None:
            runner_thread.join(timeout=settings.limits.max_execution_seconds + 5)
        server.stop(grace=5).wait()
    return 0


def start_runner(settings: Any, executor: Any, stop: threading.Event) -> threading.Thread | None:
    """Leases jobs from the coordinator when executor.coordinator is set."""
    from outlayer.errors import ErrorCode, OutlayerError
    from outlayer.grpcclient import open_channel
    from outlayer.v1 import compiler_pb2_grpc
    from outlayer.wasmstore import WasmStore
    from services.executor.modules import ModuleSource
    from services.executor.runner import JobRunner
    from services.executor.secrets import KeystoreSecrets

    target = settings.executor.coordinator
    if not target:
        print("outlayer executor: no executor.coordinator set; serving Execute only",
              file=sys.stderr)  # fmt: skip
        return None
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
    modules = ModuleSource(store, compiler)
    runner = JobRunner(executor, channel, token_file.read_text().strip(), modules, secrets)
    thread = threading.Thread(target=runner.run_forever, args=(stop,), name="job-runner")
    thread.start()
    print(f"outlayer executor: leasing jobs from {target}", file=sys.stderr, flush=True)
    return thread
