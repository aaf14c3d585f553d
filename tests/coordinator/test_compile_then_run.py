"""Compile, then run: a call whose source is not built yet waits for the build and runs, once;
the call that caused the build pays its CPU time, later calls of the cached module never do.
A build that does not fit the call's wait answers compilation_in_progress with its fields."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from sqlalchemy import Engine

from devtools.gitserver import GitServer
from outlayer.config import Settings
from outlayer.v1 import execution_pb2, public_pb2, public_pb2_grpc
from outlayer.wasmstore import WasmStore
from services.coordinator.queue import JobQueue
from services.coordinator.service import build_server
from services.coordinator.workers import register_worker
from services.executor import Executor
from services.executor.runner import JobRunner
from tests.compiler_fixture import running_compiler

ADMIN = (("x-admin-token", "admin-secret"),)
NEAR = 10**24
ECHO_C = (Path(__file__).parents[2] / "examples" / "guests" / "c" / "echo_json.c").read_text()


@dataclass
class Platform:
    public: public_pb2_grpc.PublicServiceStub
    git: GitServer
    engine: Engine
    settings: Settings

    def project(self, name: str, files: dict[str, str | bytes]) -> None:
        commit = self.git.publish("dev", name, files)
        # github.com names, fetched from the loopback git server (compiler.git_mirrors)
        source = public_pb2.ProjectSource(repo=f"https://github.com/dev/{name}", commit=commit)
        request = public_pb2.CreateProjectRequest(owner="dev.near", name=name, code_source=source)
        self.public.CreateProject(request, metadata=ADMIN)

    def key(self) -> str:
        request = public_pb2.CreatePaymentKeyRequest(owner="alice.near", balance=str(NEAR))
        return self.public.CreatePaymentKey(request, metadata=ADMIN).secret

    def call(self, name: str, key: str, data: str, wait: float = 60.0) -> public_pb2.CallResponse:
        request = public_pb2.CallRequest(
            owner="dev.near", project=name, input=data, wait_seconds=wait,
            response_format=execution_pb2.RESPONSE_FORMAT_JSON,
            limits=execution_pb2.ResourceLimits(max_execution_seconds=5),
        )  # fmt: skip
        return self.public.Call(request, metadata=(("x-payment-key", key),), timeout=90)


@pytest.fixture
def platform(
    engine: Engine, settings: Settings, executor: Executor, tmp_path: Path
) -> Iterator[Platform]:
    stack = ExitStack()
    git = GitServer(tmp_path / "git").start()
    stack.callback(git.stop)
    mirrors = {"https://github.com": git.url}
    compiler, _ = stack.enter_context(running_compiler(settings, tmp_path, git_mirrors=mirrors))
    configured = settings.model_copy(update={"coordinator": settings.coordinator.model_copy(
        update={"admin_token": "admin-secret", "compiler": compiler})})  # fmt: skip
    server, port = build_server(configured, engine, "127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    runner = JobRunner(
        executor, channel, register_worker(engine, "w"), WasmStore(tmp_path / "wasm")
    )
    stop = threading.Event()
    worker = threading.Thread(target=runner.run_forever, args=(stop, 0.2), daemon=True)
    worker.start()
    yield Platform(public_pb2_grpc.PublicServiceStub(channel), git, engine, configured)
    stop.set()
    worker.join()
    channel.close()
    server.stop(grace=None)
    stack.close()


def test_a_call_waits_for_its_build_then_runs_and_pays_for_the_build_once(
    platform: Platform,
) -> None:
    platform.project("echo-c", {"echo_json.c": ECHO_C})
    key = platform.key()
    first = platform.call("echo-c", key, '{"n": 1}')
    assert first.status == "done" and first.result.status == execution_pb2.EXECUTION_STATUS_SUCCESS
    assert '"n": 1' in first.result.output_json or '\\"n\\": 1' in first.result.output_json
    compile_ms = first.result.resources_used.compile_ms
    assert compile_ms > 0  # the build this call caused
    pricing = platform.settings.coordinator
    second = platform.call("echo-c", key, '{"n": 2}')
    assert second.status == "done" and second.result.resources_used.compile_ms == 0
    used = second.result.resources_used
    # The first call paid exactly its own usage plus the build's CPU time at per_compile_ms.
    run_cost = (pricing.base_fee_yocto + first.result.resources_used.instructions
                * pricing.per_instruction_yocto
                + first.result.resources_used.time_ms * pricing.per_ms_yocto)  # fmt: skip
    assert int(first.charged) == run_cost + compile_ms * pricing.per_compile_ms_yocto
    assert int(second.charged) == (pricing.base_fee_yocto + used.instructions
                                         * pricing.per_instruction_yocto
                                         + used.time_ms * pricing.per_ms_yocto)  # fmt: skip


def test_a_build_that_does_not_fit_the_wait_answers_with_its_fields(platform: Platform) -> None:
    platform.project("slow", {"echo_json.c": ECHO_C + "\n/* another commit */\n"})
    key = platform.key()
    answered = platform.call("slow", key, "x", wait=0.5)  # far shorter than any estimate
    if answered.status == "pending":  # the job ended unrun; its result is ready at once
        answered = platform.public.GetCall(
            public_pb2.GetCallRequest(call_id=answered.call_id), metadata=(("x-payment-key", key),)
        )
    error = answered.result.error
    assert error.type == execution_pb2.EXECUTION_ERROR_TYPE_COMPILATION_IN_PROGRESS
    assert error.compilation.estimated_seconds > 0 and error.compilation.retry_after_seconds > 0
    assert len(error.compilation.cache_key) == 32
    assert int(answered.charged) == 0  # nothing ran, nothing is charged
    assert JobQueue(platform.engine).counts().get("compiling", 0) == 0
