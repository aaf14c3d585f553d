"""HTTPS calls through the edge: paid from a payment key, the attached deposit to the project's
owner; bad keys, exhausted balances, unknown projects and malformed JSON cost nothing."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from tests.compiler_fixture import running_compiler
from tests.conftest import built_guest

ADMIN = {"X-Admin-Token": "admin-secret"}
SOURCE_REPO = "https://github.com/dev/echo"
SOURCE_COMMIT = "4" * 40
NEAR = 10**24
USDC = "usdc.near"  # a stablecoin's account
USD_BALANCE = 10**9  # 1,000 USDC


@dataclass
class Https:
    http: httpx.Client
    store: WasmStore

    def admin(self, path: str, body: dict[str, Any]) -> Any:
        response = self.http.post(path, json=body, headers=ADMIN)
        assert response.status_code == 200, response.text
        return response.json()

    def balance(self, key_id: str) -> int:
        response = self.http.get(f"/payment-keys/{key_id}", headers=ADMIN)  # the operator
        assert response.status_code == 200, response.text
        return int(response.json()["balance"])


@pytest.fixture
def https(
    engine: Engine, settings: Settings, executor: Executor, tmp_path: Path
) -> Iterator[Https]:
    stack = ExitStack()
    warm = {(SOURCE_REPO, SOURCE_COMMIT): built_guest("echo_json_rust")}
    compiler, _ = stack.enter_context(running_compiler(settings, tmp_path, warm))
    configured = settings.model_copy(update={"coordinator": settings.coordinator.model_copy(
        update={"admin_token": "admin-secret", "compiler": compiler})})  # fmt: skip
    server, port = build_server(configured, engine, "127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    store = WasmStore(tmp_path / "wasm")
    store.put(built_guest("echo_json_rust"))
    runner = JobRunner(executor, channel, register_worker(engine, "w"), store)
    stop = threading.Event()
    worker = threading.Thread(target=runner.run_forever, args=(stop, 0.5), daemon=True)
    worker.start()
    edge = make_server(Edge(f"127.0.0.1:{port}"), "127.0.0.1", 0, None)
    threading.Thread(target=edge.serve_forever, daemon=True).start()
    with httpx.Client(base_url=f"http://127.0.0.1:{edge.server_address[1]}", timeout=60) as http:
        yield Https(http, store)
    stop.set()
    worker.join()
    edge.shutdown()
    server.stop(grace=None)
    stack.close()


def setup_project(h: Https, balance: int = 10 * NEAR, token_id: str = "near") -> tuple[str, str]:
    import hashlib

    digest = hashlib.sha256(built_guest("echo_json_rust")).hexdigest()
    h.admin("/projects", {"owner": "dev.near", "name": "echo", "wasm_sha256": digest})
    key = h.admin(
        "/payment-keys", {"owner": "alice.near", "balance": str(balance), "token_id": token_id}
    )
    return key["key_id"], key["secret"]


def test_a_paid_call_returns_the_result_and_pays_the_owner(https: Https) -> None:
    key_id, secret = setup_project(https, USD_BALANCE, USDC)
    response = https.http.post(
        "/call/dev.near/echo",
        json={"input": "hi there", "response_format": "RESPONSE_FORMAT_JSON"},
        headers={"X-Payment-Key": secret, "X-Attached-Deposit": "5000"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "done"
    result = body["result"]
    assert result["status"] == "success" and result["output"]["input"] == "hi there"
    assert "OUTLAYER_CALL_ID" in result["output"]["env_names"]
    charged = int(body["charged"])
    assert charged > 5000
    assert body["token_id"] == USDC
    assert https.balance(key_id) == USD_BALANCE - charged
    earnings = https.http.get("/earnings/dev.near", headers=ADMIN).json()
    assert earnings["totals"] == [{"token_id": USDC, "amount": "5000"}]
    assert earnings["history"][0]["call_id"] == body["call_id"]
    paid = {"X-Payment-Key": secret}
    again = https.http.get(f"/calls/{body['call_id']}", headers=paid).json()
    assert again["charged"] == body["charged"]  # settled once
    assert https.balance(key_id) == USD_BALANCE - charged


@pytest.mark.parametrize(
    ("path", "body", "headers", "status", "code"),
    [
        (
            "/call/dev.near/echo",
            {"input": "x"},
            {"X-Payment-Key": "olk_wrong"},
            401,
            "unauthenticated",
        ),
        ("/call/dev.near/echo", {"input": "x"}, {}, 401, "unauthenticated"),
        ("/call/dev.near/nope", {"input": "x"}, "KEY", 404, "not_found"),
        ("/call/dev.near/echo", b"{not json", "KEY", 400, "invalid_json"),
        ("/call/dev.near/echo", {"inptu": "x"}, "KEY", 400, "invalid_argument"),
        (
            "/call/dev.near/echo",
            {"limits": {"max_instructions": "999999999999"}},
            "KEY",
            400,
            "limit_exceeded",
        ),
        ("/call/dev.near/echo", {"input": "x"}, "KEY+deposit=abc", 400, "invalid_argument"),
    ],
)
def test_refused_calls_cost_nothing(  # noqa: PLR0917 (one argument per column)
    https: Https, path: str, body: object, headers: object, status: int, code: str
) -> None:
    key_id, secret = setup_project(https)
    sent: dict[str, str] = {}
    if headers == "KEY":
        sent = {"X-Payment-Key": secret}
    elif headers == "KEY+deposit=abc":
        sent = {"X-Payment-Key": secret, "X-Attached-Deposit": "abc"}
    elif isinstance(headers, dict):
        sent = headers
    content = body if isinstance(body, bytes) else None
    response = https.http.post(path, json=None if content else body, content=content, headers=sent)
    assert response.status_code == status, response.text
    assert response.json()["code"] == code
    assert response.json()["message"]
    assert https.balance(key_id) == 10 * NEAR


def test_an_exhausted_balance_is_refused_with_the_amount_needed(https: Https) -> None:
    key_id, secret = setup_project(https, balance=1000)
    response = https.http.post(
        "/call/dev.near/echo", json={"input": "x"}, headers={"X-Payment-Key": secret}
    )
    assert response.status_code == 402
    assert response.json()["code"] == "insufficient_balance"
    assert "1000 yoctoNEAR available" in response.json()["message"]
    assert https.balance(key_id) == 1000


def test_management_needs_the_admin_token_and_openapi_is_served(https: Https) -> None:
    refused = https.http.post("/payment-keys", json={"owner": "x", "balance": "1"})
    assert refused.status_code == 401
    spec = https.http.get("/openapi.json").json()
    assert "post" in spec["paths"]["/call/{owner}/{project}"]
    assert spec["components"]["schemas"]["CallRequest"]["properties"]["input"] == {"type": "string"}
    assert https.http.get("/nowhere").status_code == 404


def test_a_retried_request_with_the_same_nonce_runs_and_pays_once(https: Https) -> None:
    key_id, secret = setup_project(https)
    body = {"input": "once", "nonce": "order-17"}
    first = https.http.post("/call/dev.near/echo", json=body, headers={"X-Payment-Key": secret})
    retry = https.http.post("/call/dev.near/echo", json=body, headers={"X-Payment-Key": secret})
    assert first.status_code == retry.status_code == 200
    assert retry.json()["call_id"] == first.json()["call_id"]
    assert https.balance(key_id) == 10 * NEAR - int(first.json()["charged"])
    other = https.http.post(
        "/call/dev.near/echo",
        json={"input": "x", "nonce": "order-18"},
        headers={"X-Payment-Key": secret},
    )
    assert other.json()["call_id"] != first.json()["call_id"]
    # A retry may wait differently, or spell out the defaults; the nonce still names the same
    # request.
    spellings: list[dict[str, object]] = [
        {"wait_seconds": 5},
        {"response_format": "RESPONSE_FORMAT_TEXT"},
        {"limits": {}},
    ]
    for same in spellings:
        patient = https.http.post("/call/dev.near/echo", json={**body, **same},
                                  headers={"X-Payment-Key": secret})  # fmt: skip
        assert patient.json()["call_id"] == first.json()["call_id"], (same, patient.text)


@pytest.mark.parametrize(
    "change",
    [
        {"input": "twice"},
        {"response_format": "RESPONSE_FORMAT_JSON"},
        {"limits": {"max_instructions": 1000}},
        {"version": 1},
        {"project": "other"},
    ],
)
def test_a_nonce_sent_again_with_another_request_is_refused(
    https: Https, change: dict[str, object]
) -> None:
    """A nonce names one request: reused for another, it is refused (409), not answered with
    the first call's result, and nothing is charged for the refusal."""
    key_id, secret = setup_project(https)
    https.admin("/projects", {"owner": "dev.near", "name": "other", "wasm_sha256": "ef" * 32})
    body = {"input": "once", "nonce": "order-21"}
    first = https.http.post("/call/dev.near/echo", json=body, headers={"X-Payment-Key": secret})
    assert first.status_code == 200, first.text
    spent = 10 * NEAR - https.balance(key_id)
    fields = {name: value for name, value in change.items() if name != "project"}
    project = str(change.get("project", "echo"))
    again = https.http.post(f"/call/dev.near/{project}", json={**body, **fields},
                            headers={"X-Payment-Key": secret})  # fmt: skip
    assert again.status_code == 409, again.text
    answer = again.json()
    assert answer["code"] == "conflict"
    assert "order-21" in answer["message"] and first.json()["call_id"] in answer["message"]
    assert "new nonce" in answer["message"]
    assert https.balance(key_id) == 10 * NEAR - spent


def _orphan_call(engine: Engine, settings: Settings, key_id: str, nonce: str) -> str:
    """A call held as the public API holds one, whose coordinator died before queuing it."""
    import uuid

    from services.coordinator.billing import Billing
    from services.coordinator.models import Call
    from services.coordinator.queue import JobQueue, utcnow

    queue = JobQueue(engine)
    try:
        billing = Billing(engine, queue, settings.coordinator)
        call_id = uuid.uuid4().hex
        billing.hold(key_id, Call(
            call_id=call_id, key_id=key_id, owner="dev.near", project="echo", job_id=0,
            hold=str(NEAR), max_cost=str(NEAR), attached_deposit="0", nonce=nonce,
            created_at=utcnow(),
        ))  # fmt: skip
        return call_id
    finally:
        queue.close()


def test_a_retry_of_a_call_that_was_never_queued_queues_it_once(
    https: Https, engine: Engine, settings: Settings
) -> None:
    key_id, secret = setup_project(https)
    orphan = _orphan_call(engine, settings, key_id, "order-19")
    body = {"input": "late", "nonce": "order-19", "response_format": "RESPONSE_FORMAT_JSON"}
    retry = https.http.post("/call/dev.near/echo", json=body, headers={"X-Payment-Key": secret})
    assert retry.status_code == 200, retry.text
    answer = retry.json()
    assert answer["call_id"] == orphan and answer["status"] == "done"
    assert answer["result"]["output"]["input"] == "late"
    again = https.http.post("/call/dev.near/echo", json=body, headers={"X-Payment-Key": secret})
    assert again.json()["charged"] == answer["charged"]  # ran and paid once
    assert https.balance(key_id) == 10 * NEAR - int(answer["charged"])


def test_a_retry_of_a_call_whose_hold_was_given_back_is_refused_clearly(
    https: Https, engine: Engine, settings: Settings
) -> None:
    from services.coordinator.billing import Billing
    from services.coordinator.queue import JobQueue

    key_id, secret = setup_project(https)
    orphan = _orphan_call(engine, settings, key_id, "order-20")
    queue = JobQueue(engine)
    Billing(engine, queue, settings.coordinator).release(orphan)  # as the sweeper does
    queue.close()
    retry = https.http.post("/call/dev.near/echo", json={"input": "x", "nonce": "order-20"},
                            headers={"X-Payment-Key": secret})  # fmt: skip
    assert retry.status_code == 400, retry.text
    error = retry.json()
    assert error["code"] == "invalid_argument"
    assert "send the call again with a new nonce" in error["message"]
    assert https.balance(key_id) == 10 * NEAR  # nothing charged


def test_a_guest_refund_comes_out_of_the_attached_deposit(https: Https, tmp_path: Path) -> None:
    import hashlib

    from tests.conftest import wat_guest

    refunder = wat_guest("refund_usd")  # gives back 3,000,000 of what was attached
    https.store.put(refunder)
    https.admin(
        "/projects",
        {
            "owner": "dev.near",
            "name": "refunder",
            "wasm_sha256": hashlib.sha256(refunder).hexdigest(),
        },
    )
    key = https.admin(
        "/payment-keys", {"owner": "alice.near", "balance": str(USD_BALANCE), "token_id": USDC}
    )
    response = https.http.post(
        "/call/dev.near/refunder",
        json={"input": ""},
        headers={"X-Payment-Key": key["secret"], "X-Attached-Deposit": "5000000"},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["result"]["refund_usd"] == "3000000"
    earnings = https.http.get("/earnings/dev.near").json()  # the total is public
    # The owner keeps what was not refunded.
    assert earnings["totals"] == [{"token_id": USDC, "amount": "2000000"}]
    compute = int(body["charged"]) - 2_000_000
    assert compute > 0 and https.balance(key["key_id"]) == USD_BALANCE - compute - 2_000_000


def test_projects_keep_every_version_and_calls_can_pin_one(https: Https) -> None:
    key_id, secret = setup_project(https)  # version 1: a module
    source = {"repo": SOURCE_REPO, "commit": SOURCE_COMMIT}
    second = https.admin("/projects", {"owner": "dev.near", "name": "echo", "code_source": source})
    assert second["version"] == 2 and second["code_source"] == source
    described = https.http.get("/projects/dev.near/echo").json()
    assert [v["version"] for v in described["versions"]] == [1, 2]
    assert described["versions"][0]["wasm_sha256"] and "code_source" not in described["versions"][0]
    assert described["versions"][1]["code_source"] == source

    paid = {"X-Payment-Key": secret}
    as_json = {"response_format": "RESPONSE_FORMAT_JSON"}
    current = https.http.post("/call/dev.near/echo", json={"input": "v2", **as_json},
                              headers=paid).json()  # fmt: skip
    assert current["result"]["output"]["input"] == "v2"  # built from the source (its module)
    pinned = https.http.post("/call/dev.near/echo", json={"input": "v1", "version": 1},
                             headers=paid).json()  # fmt: skip
    assert pinned["result"]["status"] == "success"
    spent = int(current["charged"]) + int(pinned["charged"])
    missing = https.http.post("/call/dev.near/echo", json={"input": "x", "version": 7},
                              headers=paid)  # fmt: skip
    assert missing.status_code == 404 and "versions 1 to 2" in missing.json()["message"]
    assert https.balance(key_id) == 10 * NEAR - spent  # the refused call cost nothing


def test_a_call_to_an_unbuilt_source_answers_compiling_and_costs_nothing(https: Https) -> None:
    key = https.admin("/payment-keys", {"owner": "alice.near", "balance": str(NEAR)})
    unbuilt = {"repo": SOURCE_REPO, "commit": "5" * 40}
    https.admin("/projects", {"owner": "dev.near", "name": "new", "code_source": unbuilt})
    answer = https.http.post("/call/dev.near/new", json={"input": "x"},
                             headers={"X-Payment-Key": key["secret"]}).json()  # fmt: skip
    error = answer["result"]["error"]
    assert error["type"] == "compilation_in_progress"
    assert "5" * 12 in error["message"] and "again in" in error["message"]
    progress = error["compilation"]
    assert progress["retry_after_seconds"] > 0 and len(progress["cache_key"]) == 32
    assert answer["charged"] == "0"
    assert https.balance(key["key_id"]) == NEAR


def test_a_call_to_a_module_the_platform_lacks_never_runs_and_costs_nothing(
    https: Https,
) -> None:
    key = https.admin("/payment-keys", {"owner": "alice.near", "balance": str(NEAR)})
    https.admin("/projects", {"owner": "dev.near", "name": "absent", "wasm_sha256": "ef" * 32})
    answer = https.http.post("/call/dev.near/absent", json={"input": "x"},
                             headers={"X-Payment-Key": key["secret"]}).json()  # fmt: skip
    error = answer["result"]["error"]
    assert error["type"] == "module_not_found", error
    assert "ef" * 32 in error["message"] and "code source" in error["message"]
    assert answer["charged"] == "0"
    assert https.balance(key["key_id"]) == NEAR


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (
            {"wasm_sha256": "ab" * 32, "code_source": {"repo": SOURCE_REPO, "commit": "4" * 40}},
            "exactly one",
        ),
        ({}, "exactly one"),
        ({"wasm_sha256": "xyz"}, "64 hex"),
        (
            {"code_source": {"repo": "git@github.com:dev/echo", "commit": "4" * 40}},
            "https://github.com/OWNER/REPO",
        ),
        ({"code_source": {"repo": SOURCE_REPO, "commit": "main"}}, "40 hexadecimal"),
    ],
)
def test_bad_versions_are_refused_with_the_reason(
    https: Https, version: dict[str, Any], message: str
) -> None:
    response = https.http.post("/projects", json={"owner": "dev.near", "name": "bad", **version},
                               headers=ADMIN)  # fmt: skip
    assert response.status_code == 400, response.text
    assert message in response.json()["message"]
    assert https.http.get("/projects/dev.near/bad").status_code == 404  # nothing half-made


def test_secrets_need_a_version_built_from_a_repository(https: Https) -> None:
    key_id, secret = setup_project(https)  # a module: no repository to hold secrets
    response = https.http.post("/call/dev.near/echo", json={"input": "x", "secrets_profile": "p"},
                               headers={"X-Payment-Key": secret})  # fmt: skip
    assert response.status_code == 400
    assert "secrets belong to a repository" in response.json()["message"]
    assert https.balance(key_id) == 10 * NEAR


def test_the_operator_cannot_change_a_project_that_lives_on_chain(
    https: Https, engine: Engine
) -> None:
    from outlayer.v1 import coordinator_pb2 as pb_coordinator
    from services.coordinator.chain_mirror import ChainMirror

    version = {"version": "0000000001", "created_at": 1, "wasm_sha256": "ab" * 32}
    project = {"owner": "dev.near", "name": "onchain", "active_version": "0000000001",
               "versions": "0000000001", "created_at": 1}  # fmt: skip
    ChainMirror(engine).apply([
        pb_coordinator.ChainStateChange(key=key, value_json=json.dumps(value))
        for key, value in (("prj:dev.near/onchain", project), ("pv:dev.near/onchain/1", version))
    ])  # fmt: skip
    answer = https.http.post("/projects", headers=ADMIN, json={
        "owner": "dev.near", "name": "onchain", "wasm_sha256": "cd" * 32})  # fmt: skip
    assert answer.status_code == 409 and answer.json()["code"] == "conflict"
    assert "lives on chain" in answer.json()["message"]
    described = https.http.get("/projects/dev.near/onchain").json()
    assert described["on_chain"] is True and described["wasm_sha256"] == "ab" * 32
