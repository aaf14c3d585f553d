"""The operator's view through the edge (X-Admin-Token, as every operator method): the queue
and a job's hidden logs; refused without the token, with a wrong one, and when the operator set
none. The hidden text never shows in an answer without the token."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
from sqlalchemy import Engine

from outlayer.config import Settings
from outlayer.wasmstore import WasmStore
from services.coordinator.service import build_server
from services.coordinator.workers import register_worker
from services.edge.server import Edge, make_server
from services.executor import Executor
from services.executor.runner import JobRunner
from tests.conftest import wat_guest

TOKEN = "operator-secret"
ADMIN = {"X-Admin-Token": TOKEN}


@dataclass
class Stack:
    http: httpx.Client
    runner: JobRunner
    key: str


@contextmanager
def operator_stack(
    engine: Engine, settings: Settings, executor: Executor, tmp_path: Path, token: str
) -> Iterator[Stack]:
    configured = settings.model_copy(update={
        "save_system_hidden_logs_to_debug": True,
        "coordinator": settings.coordinator.model_copy(update={"admin_token": token}),
    })  # fmt: skip
    server, port = build_server(configured, engine, "127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    store = WasmStore(tmp_path / "wasm")
    digest = store.put(wat_guest("deep_recursion"))
    runner = JobRunner(executor, channel, register_worker(engine, "w"), store)
    edge = make_server(Edge(f"127.0.0.1:{port}"), "127.0.0.1", 0, None)
    threading.Thread(target=edge.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{edge.server_address[1]}"
    try:
        with httpx.Client(base_url=base, timeout=60) as http:
            key = ""
            if token:
                http.post("/projects", headers=ADMIN, json={
                    "owner": "o.test", "name": "p", "wasm_sha256": digest,
                }).raise_for_status()  # fmt: skip
                key = http.post("/payment-keys", headers=ADMIN, json={
                    "owner": "o.test", "balance": str(10**30),
                }).json()["secret"]  # fmt: skip
            yield Stack(http, runner, key)
    finally:
        edge.shutdown()
        server.stop(grace=None)
        channel.close()


def test_the_queue_and_hidden_logs_go_to_the_operator_only(
    engine: Engine, settings: Settings, executor: Executor, tmp_path: Path
) -> None:
    with operator_stack(engine, settings, executor, tmp_path, TOKEN) as stack:
        http = stack.http
        started = http.post("/call/o.test/p", json={"input": "", "async": True},
                            headers={"X-Payment-Key": stack.key})  # fmt: skip
        assert started.status_code == 202, started.text
        call_id = started.json()["call_id"]

        for headers in ({}, {"X-Admin-Token": "wrong"}, {"X-Payment-Key": stack.key}):
            refused = http.get("/admin/queue", headers=headers)
            assert refused.status_code == 401, (headers, refused.text)
            assert "X-Admin-Token" in refused.json()["message"]
        queue = http.get("/admin/queue", headers=ADMIN).json()
        assert queue["queued"] == "1" and len(queue["jobs"]) == 1  # (uint64: a JSON string)
        job = queue["jobs"][0]
        assert job["kind"] == "https" and job["status"] == "queued"
        assert job["origin"] == f"https:{call_id}" and job["max_attempts"] == 3
        assert int(job.get("age_seconds", "0")) >= 0 and "lease_owner" not in job
        refused = http.get("/admin/queue", params={"limit": 500}, headers=ADMIN)
        assert refused.status_code == 400 and "at most 200" in refused.json()["message"]

        assert stack.runner.run_once() is not None  # the guest traps: a hidden log is kept
        job_id = job["job_id"]
        path = f"/admin/jobs/{job_id}/hidden-logs"
        answers = []
        for headers in ({}, {"X-Admin-Token": "wrong"}, {"X-Payment-Key": stack.key}):
            refused = http.get(path, headers=headers)
            assert refused.status_code == 401, (headers, refused.text)
            answers.append(refused.text)
        logs = http.get(path, headers=ADMIN).json()
        assert logs["saving"] is True and len(logs["logs"]) == 1
        raw = logs["logs"][0]["text"]
        assert logs["logs"][0]["source"] == "executor:w" and raw
        result = http.get(f"/calls/{call_id}", headers={"X-Payment-Key": stack.key})
        answers.append(result.text)
        answers.append(http.get("/executions", headers={"X-Payment-Key": stack.key}).text)
        assert all(raw not in answer for answer in answers)  # never without the token
        assert http.get("/admin/queue", headers=ADMIN).json()["jobs"] == []  # the queue is empty
        # The operator finds a finished call's job by its row; a key's rows do not say.
        listed = http.get("/executions", headers=ADMIN).json()["executions"]
        assert [(e["call_id"], e["job_id"]) for e in listed] == [(call_id, job_id)]
        assert "job_id" not in http.get("/executions", headers={"X-Payment-Key": stack.key}).text

        for bad, status, needle in (("abc", 400, "does not fit"), ("0", 400, "job's number"),
                                    ("999", 404, "no job 999")):  # fmt: skip
            refused = http.get(f"/admin/jobs/{bad}/hidden-logs", headers=ADMIN)
            assert refused.status_code == status, (bad, refused.text)
            assert needle in refused.json()["message"]


def test_without_an_operator_token_configured_the_operator_reads_are_off(
    engine: Engine, settings: Settings, executor: Executor, tmp_path: Path
) -> None:
    with operator_stack(engine, settings, executor, tmp_path, "") as stack:
        for path in ("/admin/queue", "/admin/jobs/1/hidden-logs"):
            for headers in ({}, {"X-Admin-Token": "anything"}):
                refused = stack.http.get(path, headers=headers)
                assert refused.status_code == 403, refused.text
                assert "no admin token" in refused.json()["message"]


@pytest.mark.parametrize("path", ["/public/compile-cache"])
def test_the_compile_cache_says_when_there_is_no_compiler(
    engine: Engine, settings: Settings, executor: Executor, tmp_path: Path, path: str
) -> None:
    with operator_stack(engine, settings, executor, tmp_path, TOKEN) as stack:
        figures = stack.http.get(path).json()
        assert figures["available"] is False and figures["modules"] == "0"  # zero values too
        assert "coordinator.compiler" in figures["reason"]
        assert figures["window_seconds"] == 3600
