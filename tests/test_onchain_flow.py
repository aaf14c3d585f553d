"""On chain, end to end: a request on localnet → indexer → coordinator → executor → resolve →
the caller's transaction returns the output. Restarting the indexer loses and doubles nothing."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from sqlalchemy import Engine

from devstack.demo import account, provision, send_request, wait_final
from devtools.gitserver import GitServer
from outlayer.config import Settings
from outlayer.errors import OutlayerError
from outlayer.near.actions import DeployContractAction
from outlayer.near.keys import Signer
from outlayer.near.rpc import NearRpc, TxOutcome
from outlayer.result import ExecutionResult
from outlayer.v1 import coordinator_pb2 as pb
from outlayer.v1 import coordinator_pb2_grpc, public_pb2, public_pb2_grpc
from outlayer.wasmstore import WasmStore
from services.coordinator.database import make_engine, migrate
from services.coordinator.service import build_server
from services.coordinator.workers import register_worker
from services.executor import Executor
from services.executor.runner import JobRunner
from services.indexer.cursor import Cursor
from services.indexer.feed import RequestFeed, _new_request
from services.indexer.indexer import Chain, Indexer
from tests.compiler_fixture import running_compiler
from tests.conftest import built_contract, built_guest
from tests.localnet_server import running_localnet

REPO = "https://github.com/outlayer/echo-json"
COMMIT = "1" * 40
UNKNOWN_COMMIT = "2" * 40


@dataclass
class World:
    rpc: NearRpc
    outlayer: Signer
    alice: Signer
    stub: coordinator_pb2_grpc.CoordinatorServiceStub
    runner: JobRunner
    make_indexer: object
    cursor_file: Path
    git: GitServer
    block_time_s: float
    root: Signer
    worker: Signer  # the NEAR account registered as the contract's worker
    public: public_pb2_grpc.PublicServiceStub  # the coordinator's public API (no edge here)

    def indexer(self, block_seconds: float = 1.0) -> Indexer:
        return self.make_indexer(block_seconds)  # type: ignore[operator, no-any-return]

    def request(self, commit: str = COMMIT, data: str = "hi") -> TxOutcome:
        limits = {"max_instructions": 100_000_000, "max_execution_seconds": 10}
        source = {"repo": REPO, "commit": commit}
        return send_request(
            self.rpc,
            self.alice,
            self.outlayer.account_id,
            code_source=source,
            input_data=data,
            limits=limits,
        )

    def final(self, sent: TxOutcome) -> TxOutcome:
        return wait_final(self.rpc, sent.tx_hash, self.alice.account_id)


@pytest.fixture
def world(
    tmp_path: Path, settings: Settings, executor: Executor, request: pytest.FixtureRequest
) -> Iterator[World]:
    block_time_s = float(getattr(request, "param", 0.05))
    localnet = ExitStack()
    url, root = localnet.enter_context(running_localnet(tmp_path, block_time_s))
    git = GitServer(tmp_path / "git").start()
    localnet.callback(git.stop)
    rpc = NearRpc(url)
    outlayer, worker = provision(rpc, root, tmp_path, log=lambda _: None)
    alice = account(rpc, root, "alice", tmp_path, log=lambda _: None)

    store = WasmStore(tmp_path / "wasm")
    warm = {(REPO, COMMIT): built_guest("echo_json_rust")}
    mirrors = {"https://github.com": git.url}  # github.com names, from the loopback server
    compiler, _ = localnet.enter_context(
        running_compiler(settings, tmp_path, warm, git_mirrors=mirrors)
    )
    configured = settings.model_copy(update={"coordinator": settings.coordinator.model_copy(
        update={"compiler": compiler})})  # fmt: skip
    engine: Engine = make_engine(f"sqlite:///{tmp_path / 'coordinator.db'}")
    migrate(engine)
    server, port = build_server(configured, engine, "127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
    runner = JobRunner(executor, channel, register_worker(engine, "w1"), store)
    cursor_file = tmp_path / "indexer" / "cursor.json"

    def make_indexer(block_seconds: float) -> Indexer:
        return Indexer(RequestFeed(rpc, outlayer.account_id), stub, rpc=rpc, operator=worker,
                       chain=Chain(outlayer.account_id, "localnet"), cursor=Cursor(cursor_file),
                       start_height=0, block_seconds=block_seconds)  # fmt: skip

    yield World(
        rpc,
        outlayer,
        alice,
        stub,
        runner,
        make_indexer,
        cursor_file,
        git,
        block_time_s,
        root,
        worker,
        public_pb2_grpc.PublicServiceStub(channel),
    )
    channel.close()
    server.stop(grace=None)
    localnet.close()


def run_everything(world: World, indexer: Indexer) -> None:
    indexer.follow_once()
    while world.runner.run_once() is not None:
        pass
    indexer.settle_once()


def test_a_request_on_chain_comes_back_with_its_output(world: World) -> None:
    sent = world.request(data='{"ask": 42}')
    run_everything(world, world.indexer())
    final = world.final(sent)
    result = final.value
    assert result["status"] == "success"
    assert result["output"]["input"] == '{"ask": 42}'
    names = result["output"]["env_names"]
    for name in (
        "NEAR_SENDER_ID",
        "NEAR_CONTRACT_ID",
        "NEAR_REQUEST_ID",
        "NEAR_BLOCK_HEIGHT",
        "NEAR_TRANSACTION_HASH",
        "OUTLAYER_EXECUTION_TYPE",
        "NEAR_PAYMENT_YOCTO",
    ):
        assert name in names  # fmt: skip
    assert world.stub.ListUnsettledJobs(pb.ListUnsettledJobsRequest(kind="near")).jobs == []


def test_an_unbuilt_source_resolves_as_compiling_with_when_to_retry(world: World) -> None:
    sent = world.request(commit=UNKNOWN_COMMIT)
    # Blocks so short that no build fits the yield window: no compile-then-run.
    run_everything(world, world.indexer(block_seconds=0.01))
    result = world.final(sent).value
    assert result["status"] == "failed"
    assert result["error"]["type"] == "compilation_in_progress"
    assert UNKNOWN_COMMIT[:12] in result["error"]["message"]
    # Fields a client contract can act on, not a sentence.
    compilation = result["compilation"]
    assert compilation["retry_after_blocks"] >= 1 and compilation["estimated_seconds"] >= 1
    assert len(compilation["cache_key"]) == 32


ECHO_C = (Path(__file__).parents[1] / "examples" / "guests" / "c" / "echo_json.c").read_text()


@pytest.mark.parametrize("world", [0.35], indirect=True)  # a 70 s yield window: a build fits
def test_an_unbuilt_source_compiles_then_runs_within_its_request(world: World) -> None:
    commit = world.git.publish("outlayer", "echo-c", {"echo_json.c": ECHO_C})
    limits = {"max_instructions": 100_000_000, "max_execution_seconds": 5}
    sent = send_request(world.rpc, world.alice, world.outlayer.account_id, limits=limits,
                        code_source={"repo": "https://github.com/outlayer/echo-c",
                                     "commit": commit}, input_data="built just now")  # fmt: skip
    indexer = world.indexer(block_seconds=world.block_time_s)
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        run_everything(world, indexer)
        if (
            world.rpc.tx_status(sent.tx_hash, world.alice.account_id).raw.get(
                "final_execution_status"
            )
            == "FINAL"
        ):
            break
        time.sleep(0.2)
    result = world.final(sent).value
    assert result["status"] == "success", result
    assert result["output"]["input"] == "built just now"
    assert result["resources_used"]["compile_ms"] > 0  # this request caused the build
    again_source = {"repo": "https://github.com/outlayer/echo-c", "commit": commit}
    cached = send_request(world.rpc, world.alice, world.outlayer.account_id, limits=limits,
                          code_source=again_source, input_data="cached")  # fmt: skip
    run_everything(world, indexer)
    second = world.final(cached).value
    assert second["status"] == "success" and second["resources_used"]["compile_ms"] == 0


def test_a_request_that_pays_more_runs_first(world: World) -> None:
    limits = {"max_instructions": 100_000_000, "max_execution_seconds": 10}
    cost = int(world.rpc.view(world.outlayer.account_id, "estimate_execution_cost",
                              {"resource_limits": limits}))  # fmt: skip
    sent = []
    for data, extra in (("cheap", 0), ("rich", 5 * 10**24), ("cheap too", 0)):
        args = {"code_source": {"repo": REPO, "commit": COMMIT}, "resource_limits": limits,
                "input_data": data, "response_format": "json"}  # fmt: skip
        sent.append(world.rpc.function_call(world.alice, world.outlayer.account_id,
                                            "request_execution", args, deposit=cost + extra,
                                            wait_until="INCLUDED"))  # fmt: skip
    indexer = world.indexer()
    deadline = time.monotonic() + 30
    while True:  # all three queued before any runs (their blocks final)
        indexer.follow_once()
        try:
            world.stub.GetJob(pb.GetJobRequest(job_id=3))
            break
        except grpc.RpcError:
            assert time.monotonic() < deadline, "the third request was never queued"
            time.sleep(0.1)
    order = []
    while (ran := world.runner.run_once()) is not None:
        order.append(ran.result.output["input"])
    # The indexer's priority is the payment in whole NEAR: 5 NEAR more leases first; equal
    # payments keep their order.
    assert order == ["rich", "cheap", "cheap too"]
    indexer.settle_once()
    assert [world.final(s).value["status"] for s in sent] == ["success"] * 3


USD_REPORT_C = r"""#include <stdio.h>
#include <stdlib.h>
int main(void) {
    const char *usd = getenv("ATTACHED_USD");
    printf("{\"attached_usd\":\"%s\"}", usd ? usd : "(unset)");
    return 0;
}
"""


@pytest.mark.parametrize("world", [0.35], indirect=True)  # room to build the guest first
def test_attached_usd_reaches_the_guest_as_attached(world: World, tmp_path: Path) -> None:
    million = 10**6  # a stablecoin with 6 decimals
    token = account(world.rpc, world.root, "usdc", tmp_path, log=lambda _: None)
    world.rpc.send(token, token.account_id, [DeployContractAction(built_contract("test_token"))])
    world.rpc.function_call(token, token.account_id, "new", {
        "owner_id": world.alice.account_id, "total_supply": str(100 * million)})  # fmt: skip
    added = world.rpc.function_call(world.outlayer, world.outlayer.account_id, "add_token",
                                    {"token_id": token.account_id})  # fmt: skip
    assert added.failure is None, added.failure
    deposited = world.rpc.function_call(world.alice, token.account_id, "ft_transfer_call", {
        "receiver_id": world.outlayer.account_id, "amount": str(5 * million),
        "msg": '{"action":"deposit_balance"}'}, deposit=1)  # fmt: skip
    assert deposited.failure is None, deposited.failure
    commit = world.git.publish("outlayer", "usd-report", {"usd_report.c": USD_REPORT_C})
    limits = {"max_instructions": 100_000_000, "max_execution_seconds": 5}
    cost = int(world.rpc.view(world.outlayer.account_id, "estimate_execution_cost",
                              {"resource_limits": limits}))  # fmt: skip
    args = {"code_source": {"repo": "https://github.com/outlayer/usd-report", "commit": commit},
            "resource_limits": limits, "input_data": "", "response_format": "json",
            "attached_usd": str(2 * million), "usd_token_id": token.account_id,
            "project_owner_id": world.outlayer.account_id}  # fmt: skip
    sent = world.rpc.function_call(world.alice, world.outlayer.account_id, "request_execution",
                                   args, deposit=cost, wait_until="INCLUDED")  # fmt: skip
    assert sent.failure is None, sent.failure
    indexer = world.indexer(block_seconds=world.block_time_s)
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        run_everything(world, indexer)
        status = world.rpc.tx_status(sent.tx_hash, world.alice.account_id)
        if status.raw.get("final_execution_status") == "FINAL":
            break
        time.sleep(0.2)
    result = world.final(sent).value
    assert result["status"] == "success", result
    assert result["output"] == {"attached_usd": str(2 * million)}  # the amount, in its units
    # Kept by the developer (no refund from the guest): 3 USD stay in alice's balance.
    balance = world.rpc.view(world.outlayer.account_id, "get_user_balance", {
        "account_id": world.alice.account_id, "token_id": token.account_id})  # fmt: skip
    assert str(balance) == str(3 * million)
    # What the request paid its project's owner is in the owner's earnings history, once its
    # resolve was applied on chain.
    history = world.public.ListPublicEarnings(
        public_pb2.ListPublicEarningsRequest(owner=world.outlayer.account_id)
    )
    assert [(e.source, e.token_id, e.amount, e.project) for e in history.entries] == [
        ("chain", token.account_id, str(2 * million), "https://github.com/outlayer/usd-report")
    ]
    events = [json.loads(line.removeprefix("EVENT_JSON:")) for line in sent.logs
              if line.startswith("EVENT_JSON:")]  # fmt: skip
    requested = next(e["data"][0] for e in events if e["event"] == "execution_requested")
    assert history.entries[0].request_id == requested["request_id"]


def test_restarting_the_indexer_neither_loses_nor_doubles_requests(world: World) -> None:
    first = world.indexer()
    before = world.request(data="before")
    first.follow_once()
    # The indexer goes down; a request arrives meanwhile; a new indexer starts from the cursor.
    during = world.request(data="during")
    second = world.indexer()
    run_everything(world, second)
    run_everything(world, world.indexer())  # and once more: nothing new
    assert world.final(before).value["output"]["input"] == "before"
    assert world.final(during).value["output"]["input"] == "during"
    jobs = [world.stub.GetJob(pb.GetJobRequest(job_id=n)) for n in (1, 2)]
    assert [job.status for job in jobs] == ["done", "done"]
    with pytest.raises(grpc.RpcError):
        world.stub.GetJob(pb.GetJobRequest(job_id=3))  # no third job: nothing doubled
    assert Cursor(world.cursor_file).load() is not None


def test_an_output_the_contract_cannot_take_is_resolved_as_failed_once(world: World) -> None:
    deep: object = "leaf"
    for _ in range(65):
        deep = [deep]
    nested = ExecutionResult.from_json({"status": "success", "output": deep}).to_resolve_args(1)
    assert nested["success"] is False and nested["error"]["type"] == "invalid_output"
    at_cap: object = "leaf"
    for _ in range(64):
        at_cap = [at_cap]
    fits = ExecutionResult.from_json({"status": "success", "output": at_cap}).to_resolve_args(1)
    assert fits["success"] is True and fits["output"] == at_cap
    # The contract takes the failed one (and would have refused the deep output itself).
    sent = world.request(data="deep")
    world.indexer().follow_once()
    as_is = {**nested, "success": True, "output": deep, "error": None}
    refused = world.rpc.function_call(world.worker, world.outlayer.account_id,
                                      "resolve_execution", as_is)  # fmt: skip
    assert refused.failure is not None and "nested more than 64 levels" in refused.failure
    taken = world.rpc.function_call(world.worker, world.outlayer.account_id,
                                    "resolve_execution", nested)  # fmt: skip
    assert taken.failure is None, taken.failure
    assert world.final(sent).value["error"]["type"] == "invalid_output"


def test_a_guest_refund_is_passed_to_the_contract_only_on_success() -> None:
    from outlayer.errors import ExecutionErrorType

    ok = ExecutionResult.from_json({"status": "success", "output": "x", "refund_usd": "7"})
    assert ok.to_resolve_args(3)["refund_usd"] == "7"
    failed = ExecutionResult.failure(ExecutionErrorType.RUNTIME_ERROR, "trap")
    assert failed.to_resolve_args(3)["refund_usd"] == "0"


def test_the_feed_finds_each_request_once_where_the_chain_made_it(world: World) -> None:
    feed = RequestFeed(world.rpc, world.outlayer.account_id)
    sent = world.request(data="located")
    made = next(
        r for r in sent.raw["receipts_outcome"]
        if any("execution_requested" in line for line in r["outcome"]["logs"])
    )  # fmt: skip
    made_at = world.rpc.call("block", {"block_id": made["block_hash"]})["header"]
    run_everything(world, world.indexer())  # resolves it: the record is rewritten as resolved
    world.final(sent)
    head = feed.last_final_height()
    found = [e for h in range(head + 1) for e in feed.requests_at(h) or []]
    assert [(e.request_id, e.block_height, e.receipt_id) for e in found] == [
        (1, made_at["height"], made["id"])
    ]
    assert found[0].block_timestamp_ns == int(made_at["timestamp_nanosec"])
    assert found[0].data["input_data"] == "located"
    assert feed.requests_at(head + 1000) is None  # not produced: the cursor waits, nothing lost


def test_the_feed_refuses_a_contract_that_does_not_store_requests_as_json(world: World) -> None:
    with pytest.raises(OutlayerError, match="not JSON"):
        _new_request({"type": "data_update", "change": {"value_base64": "bm90IGpzb24="}})
    assert _new_request({"type": "data_deletion", "change": {}}) is None


def test_a_running_request_is_resolved_without_waiting_for_the_next_block_poll(
    world: World,
) -> None:
    # Blocks are read once a minute here; the request's result is still resolved as soon as
    # it is in (the loop looks for results of what it queued in between).
    indexer = world.indexer()
    stop = threading.Event()
    sent = world.request(data="quick")
    loop = threading.Thread(target=indexer.run_forever, args=(stop, 60.0), daemon=True)
    loop.start()
    try:
        job = None
        for _ in range(200):  # the loop's first pass queues it
            job = world.runner.run_once(wait_s=0.1)
            if job is not None:
                break
        assert job is not None and job.result.ok
        final = wait_final(world.rpc, sent.tx_hash, world.alice.account_id, timeout_s=30)
        assert final.value["output"]["input"] == "quick"
    finally:
        stop.set()
        loop.join(timeout=5)
