"""system_hidden_logs: raw output kept only with the debug flag, read only through the admin API
on loopback, and never part of any public answer."""

from __future__ import annotations

import threading
from pathlib import Path

import grpc
import httpx
import pytest
from sqlalchemy import Engine

from outlayer.config import Settings
from outlayer.errors import OutlayerError
from outlayer.v1 import coordinator_pb2 as pb
from outlayer.v1 import coordinator_pb2_grpc
from outlayer.wasmstore import WasmStore
from services.coordinator.admin import build_admin_server
from services.coordinator.service import build_server
from services.coordinator.workers import register_worker
from services.edge.server import Edge, make_server
from services.executor import Executor
from services.executor.runner import JobRunner
from tests.conftest import wat_guest

ADMIN = {"X-Admin-Token": "t"}


def run_trapping_call(
    engine: Engine, settings: Settings, executor: Executor, tmp_path: Path, save: bool
) -> tuple[dict[str, object], pb.GetHiddenLogsResponse]:
    configured = settings.model_copy(
        update={
            "save_system_hidden_logs_to_debug": save,
            "coordinator": settings.coordinator.model_copy(update={"admin_token": "t"}),
        }
    )
    server, port = build_server(configured, engine, "127.0.0.1:0")
    admin, admin_port = build_admin_server(configured, engine, "127.0.0.1:0")
    server.start()
    admin.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    store = WasmStore(tmp_path / "wasm")
    digest = store.put(wat_guest("deep_recursion"))
    stop = threading.Event()
    runner = JobRunner(executor, channel, register_worker(engine, "w"), store)
    threading.Thread(target=runner.run_forever, args=(stop, 0.5), daemon=True).start()
    edge = make_server(Edge(f"127.0.0.1:{port}"), "127.0.0.1", 0, None)
    threading.Thread(target=edge.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{edge.server_address[1]}"
    try:
        httpx.post(
            f"{base}/projects",
            headers=ADMIN,
            json={"owner": "o", "name": "p", "wasm_sha256": digest},
        ).raise_for_status()
        key = httpx.post(
            f"{base}/payment-keys", headers=ADMIN, json={"owner": "o", "balance": str(10**30)}
        ).json()["secret"]
        called = httpx.post(
            f"{base}/call/o/p", json={"input": ""}, headers={"X-Payment-Key": key}, timeout=60
        ).json()
        with grpc.insecure_channel(f"127.0.0.1:{admin_port}") as admin_channel:
            stub = coordinator_pb2_grpc.AdminServiceStub(admin_channel)
            job_id = 1
            hidden = stub.GetHiddenLogs(pb.GetHiddenLogsRequest(job_id=job_id))
        again = httpx.get(f"{base}/calls/{called['call_id']}", headers={"X-Payment-Key": key})
        assert again.status_code == 200, again.text
        openapi = httpx.get(f"{base}/openapi.json").text
    finally:
        stop.set()
        edge.shutdown()
        server.stop(grace=None)
        admin.stop(grace=None)
    assert "GetHiddenLogs" not in openapi  # the edge does not even route to it
    return {"call": called, "again": again.json()}, hidden


def test_with_the_flag_raw_output_is_kept_for_operators_only(
    engine: Engine, settings: Settings, executor: Executor, tmp_path: Path
) -> None:
    public, hidden = run_trapping_call(engine, settings, executor, tmp_path, save=True)
    assert public["call"]["result"]["error"]["type"] == "runtime_error"  # type: ignore[index]
    assert len(hidden.logs) == 1 and hidden.logs[0].source == "executor:w"
    raw = hidden.logs[0].text
    assert "wasm backtrace" in raw or "Trap" in raw  # the raw text, backtrace and all
    for answer in public.values():
        assert raw not in str(answer)  # never in a public response
        assert "wasm backtrace" not in str(answer)


def test_without_the_flag_nothing_is_kept(
    engine: Engine, settings: Settings, executor: Executor, tmp_path: Path
) -> None:
    _, hidden = run_trapping_call(engine, settings, executor, tmp_path, save=False)
    assert list(hidden.logs) == []


def test_the_admin_api_listens_on_loopback_only(engine: Engine, settings: Settings) -> None:
    with pytest.raises(OutlayerError, match="loopback"):
        build_admin_server(settings, engine, "0.0.0.0:0")


def test_the_spec_s_variable_name_turns_it_on(monkeypatch: pytest.MonkeyPatch) -> None:
    from outlayer.config import load_settings

    monkeypatch.setenv("SAVE_SYSTEM_HIDDEN_LOGS_TO_DEBUG", "true")
    assert load_settings().save_system_hidden_logs_to_debug is True
    monkeypatch.delenv("SAVE_SYSTEM_HIDDEN_LOGS_TO_DEBUG")
    assert load_settings().save_system_hidden_logs_to_debug is False
