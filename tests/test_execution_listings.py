"""Executions end to end on localnet: a request on chain is listed by its sender (queued, then
resolved) with the resolve_execution transaction the indexer sent and the fee it kept, its
detail carries what the resolve put on chain (not the guest's logs) and its compile step; an
HTTPS call's row carries how it ended and, once settled, the settle_https_usage transaction;
the compile cache's figures; bad inputs to the new reads refused with a clear 400."""

from __future__ import annotations

import json

import base58
import pytest

from devstack.demo import send_request
from outlayer.near.keys import public_key_text
from outlayer.near.rpc import NearRpc, NearRpcError
from outlayer.v1 import coordinator_pb2 as pb
from outlayer.v1 import coordinator_pb2_grpc, public_pb2
from services.indexer.cursor import Cursor
from services.indexer.feed import RequestFeed
from services.indexer.indexer import Chain, Indexer
from tests.test_onchain_flow import REPO, World, run_everything, world  # noqa: F401
from tests.test_self_service_flow import (  # noqa: F401
    USD,
    Platform,
    _echo_project,
    _mirrored_balance,
    eventually,
    platform,
)


def method_of(rpc: NearRpc, tx_hash: str, signer: str) -> str:
    """The function a transaction called (it must be final on chain)."""
    raw = rpc.tx_status(tx_hash, signer, wait_until="FINAL").raw
    assert "SuccessValue" in raw["status"], raw["status"]
    return str(raw["transaction"]["actions"][0]["FunctionCall"]["method_name"])


def test_a_request_is_listed_by_its_sender_with_its_resolve_transaction(
    world: World,  # noqa: F811 (the fixture)
) -> None:
    alice = world.alice.account_id
    sent = world.request(data='{"ask": 7}')
    indexer = world.indexer()
    indexer.follow_once()
    listed = world.public.ListPublicRequests(public_pb2.ListPublicRequestsRequest(sender=alice))
    assert [(r.status, r.resolved) for r in listed.requests] == [("queued", False)]
    request_id = listed.requests[0].request_id

    while world.runner.run_once() is not None:
        pass
    indexer.settle_once()
    final = world.final(sent).value
    listed = world.public.ListPublicRequests(public_pb2.ListPublicRequestsRequest(sender=alice))
    row = listed.requests[0]
    assert (row.status, row.resolved, row.code_repo) == ("success", True, REPO)
    assert row.charged == final["charged"] and int(row.charged) > 0  # the fee its event says
    assert row.resources_used.instructions == final["resources_used"]["instructions"]
    assert method_of(world.rpc, row.resolve_tx_hash, world.worker.account_id) == (
        "resolve_execution"
    )

    detail = world.public.GetPublicRequest(public_pb2.GetPublicRequestRequest(
        request_id=request_id))  # fmt: skip
    assert json.loads(detail.output_json) == final["output"]  # what the chain holds anyway
    assert not detail.built and detail.resources_used.compile_ms == 0  # the module was cached
    assert len(detail.wasm_sha256) == 64 and detail.resolve_tx_hash == row.resolve_tx_hash
    assert "logs" not in str(detail).lower()

    cache = world.public.GetCompileCache(public_pb2.GetCompileCacheRequest())
    assert cache.available and cache.modules >= 1 and cache.total_bytes > 0
    assert cache.hits >= 1 and cache.builds == 0


class _StopsBeforeAcknowledging:
    """The coordinator as an indexer sees it, but the indexer dies (this raises) as it is about
    to acknowledge a resolve: the transaction is on chain, the coordinator has not heard."""

    def __init__(self, stub: coordinator_pb2_grpc.CoordinatorServiceStub) -> None:
        self._stub = stub

    def __getattr__(self, name: str) -> object:
        return getattr(self._stub, name)

    def AcknowledgeJob(self, request: object) -> object:  # noqa: N802 (the RPC's name)
        raise _IndexerDied


class _IndexerDied(Exception):
    pass


class _StatusUnavailable:
    """The node, as an indexer sees it, but a transaction's status is not to be had (a timeout)."""

    def __init__(self, rpc: NearRpc) -> None:
        self._rpc = rpc

    def __getattr__(self, name: str) -> object:
        return getattr(self._rpc, name)

    def tx_status(self, *_args: object, **_kwargs: object) -> object:
        raise NearRpcError("HANDLER_ERROR", "TIMEOUT_ERROR", "TIMEOUT_ERROR: timed out")


def _indexer_on(
    world: World,  # noqa: F811 (the fixture's type)
    coordinator: object,
    rpc: object = None,
) -> Indexer:
    return Indexer(RequestFeed(world.rpc, world.outlayer.account_id), coordinator,  # type: ignore[arg-type]
                   rpc=rpc or world.rpc, operator=world.worker,  # type: ignore[arg-type]
                   chain=Chain(world.outlayer.account_id, "localnet"),
                   cursor=Cursor(world.cursor_file), start_height=0)  # fmt: skip


def test_a_restarted_indexer_lists_the_resolve_it_sent_before_it_died(
    world: World,  # noqa: F811 (the fixture)
) -> None:
    alice = world.alice.account_id
    sent = world.request(data='{"ask": 8}')
    dying = _indexer_on(world, _StopsBeforeAcknowledging(world.stub))
    dying.follow_once()
    while world.runner.run_once() is not None:
        pass
    with pytest.raises(_IndexerDied):
        dying.settle_once()
    final = world.final(sent).value  # resolved on chain: the caller has its answer
    listed = world.public.ListPublicRequests(public_pb2.ListPublicRequestsRequest(sender=alice))
    assert [(r.status, r.resolved, r.resolve_tx_hash) for r in listed.requests] == [
        ("success", False, "")
    ]

    # Recorded after it, so looked at first: a hash the node never saw, and a transaction of
    # the same request that is not a resolve (the request itself, alice's).
    job_id = world.stub.ListUnsettledJobs(pb.ListUnsettledJobsRequest(kind="near")).jobs[0].job_id
    decoys = (base58.b58encode(bytes(range(32))).decode(), sent.tx_hash)
    for decoy in decoys:
        world.stub.RecordResolveAttempt(pb.RecordResolveAttemptRequest(job_id=job_id,
                                                                       tx_hash=decoy))  # fmt: skip

    listed_attempts = world.stub.ListUnsettledJobs(pb.ListUnsettledJobsRequest(kind="near"))
    attempts = list(listed_attempts.jobs[0].resolve_tx_hashes)
    assert len(attempts) == 3 and attempts[:2] == [sent.tx_hash, decoys[0]]  # newest first
    nonce_before = _operator_nonce(world)

    blind = _indexer_on(world, world.stub, _StatusUnavailable(world.rpc))
    assert blind.settle_once() == 0  # cannot tell which landed: left for a later pass
    again = world.stub.ListUnsettledJobs(pb.ListUnsettledJobsRequest(kind="near")).jobs[0]
    assert list(again.resolve_tx_hashes) == attempts  # nothing signed, nothing recorded
    assert (
        not world.public.ListPublicRequests(public_pb2.ListPublicRequestsRequest(sender=alice))
        .requests[0]
        .resolved
    )

    restarted = world.indexer()  # it finds its own earlier resolve before sending another
    assert restarted.settle_once() == 1
    assert _operator_nonce(world) == nonce_before  # no second resolve paid for
    row = world.public.ListPublicRequests(
        public_pb2.ListPublicRequestsRequest(sender=alice)
    ).requests[0]
    assert row.resolved and row.charged == final["charged"] and int(row.charged) > 0
    assert method_of(world.rpc, row.resolve_tx_hash, world.worker.account_id) == (
        "resolve_execution"
    )
    assert restarted.settle_once() == 0  # acknowledged: nothing left to settle


def _operator_nonce(world: World) -> int:  # noqa: F811 (the fixture's type)
    key = world.rpc.call("query", {
        "request_type": "view_access_key", "finality": "final",
        "account_id": world.worker.account_id,
        "public_key": public_key_text(world.worker.public_key),
    })  # fmt: skip
    return int(key["nonce"])


def test_a_resolve_the_coordinator_cannot_record_is_not_sent(
    world: World,  # noqa: F811 (the fixture)
) -> None:
    class Unrecorded(_StopsBeforeAcknowledging):
        def RecordResolveAttempt(self, request: object) -> object:  # noqa: N802
            raise _IndexerDied

    sent = world.request(data='{"ask": 9}')
    indexer = _indexer_on(world, Unrecorded(world.stub))
    indexer.follow_once()
    while world.runner.run_once() is not None:
        pass
    nonce_before = _operator_nonce(world)
    with pytest.raises(_IndexerDied):
        indexer.settle_once()
    nonce_after = _operator_nonce(world)
    assert nonce_after == nonce_before  # nothing was sent

    world.indexer().settle_once()  # the coordinator is back: recorded, sent, acknowledged
    assert "output" in world.final(sent).value
    row = world.public.ListPublicRequests(
        public_pb2.ListPublicRequestsRequest(sender=world.alice.account_id)
    ).requests[0]
    assert row.resolved and row.resolve_tx_hash


def test_https_rows_and_requests_through_the_edge(
    platform: Platform,  # noqa: F811 (the fixture)
) -> None:
    p = platform
    alice = p.alice.account_id
    _echo_project(p)
    nonce, secret = p.new_key(p.alice)
    assert p.top_up(p.alice, alice, nonce, 10 * USD).failure is None
    _mirrored_balance(p, alice, nonce, 10 * USD)
    called = p.https_call(secret, {"input": "listed"})
    assert called.status_code == 200, called.text

    def row() -> dict[str, object]:
        answer = p.http.get("/executions", headers={"X-Payment-Key": secret})
        assert answer.status_code == 200, answer.text
        return answer.json()["executions"][0]  # type: ignore[no-any-return]

    first = row()
    assert first["result_status"] == "success" and "error_type" not in first
    assert int(first["resources_used"]["instructions"]) > 0  # type: ignore[index]
    settled = eventually(lambda: (r := row())["settlement"] == "settled"
                         and r.get("settlement_tx_hash") and r, "the call settled on chain",
                         timeout_s=60)  # fmt: skip
    tx = str(settled["settlement_tx_hash"])
    assert method_of(p.rpc, tx, p.worker.account_id) == "settle_https_usage"

    # A request on chain: this platform builds no code sources, so it resolves as failed.
    send_request(p.rpc, p.alice, p.outlayer.account_id, code_source={
        "repo": "https://github.com/outlayer/unbuildable", "commit": "3" * 40,
    }, input_data="x", limits={"max_instructions": 10**8, "max_execution_seconds": 5})  # fmt: skip

    def resolved() -> dict[str, object] | None:
        found = p.http.get("/public/requests", params={"sender": alice, "status": "failed"})
        assert found.status_code == 200, found.text
        rows = found.json().get("requests", [])
        return rows[0] if rows and rows[0].get("resolve_tx_hash") else None

    request = eventually(resolved, "the request resolved on chain", timeout_s=60)
    assert request["error_type"] == "compilation_error"
    assert method_of(p.rpc, str(request["resolve_tx_hash"]), p.worker.account_id) == (
        "resolve_execution"
    )
    detail = p.http.get(f"/public/requests/{request['request_id']}").json()
    assert detail["status"] == "failed" and detail["output_json"] == ""  # no output
    assert p.http.get("/public/requests", params={"sender": alice, "status": "success"}).json() == {
        "requests": [],
        "next_cursor": "",
    }

    bad: list[tuple[str, dict[str, str | int], str]] = [
        ("/public/requests", {"sender": "Not Valid"}, "must be a NEAR account id"),
        ("/public/requests", {}, "sender is required"),
        ("/public/requests", {"sender": alice, "cursor": "x"}, "cursor is not one"),
        ("/public/requests", {"sender": alice, "limit": 101}, "limit is at most 100"),
        ("/public/requests", {"sender": alice, "status": "lost"}, "status is one of"),
        ("/public/requests/abc", {}, "does not fit"),
    ]
    for path, params, needle in bad:
        refused = p.http.get(path, params=params)
        assert refused.status_code == 400, (path, params, refused.text)
        assert needle in refused.json()["message"]
    assert p.http.get("/public/requests/99999").status_code == 404
    cache = p.http.get("/public/compile-cache").json()
    assert "coordinator.compiler" in cache["reason"]  # this platform has no compiler


@pytest.mark.parametrize(
    ("logs", "charged"),
    [
        (['EVENT_JSON:{"event": "execution_completed", "data": [{"request_id": 4, '
          '"charged": "77"}]}'], "77"),
        (['EVENT_JSON:{"event": "execution_completed", "data": [{"request_id": 5, '
          '"charged": "77"}]}'], ""),  # another request's
        (["EVENT_JSON:not json", "plain log"], ""),
        (['EVENT_JSON:{"event": "execution_completed", "data": [{"request_id": 4, '
          '"charged": "-1"}]}'], ""),
    ],
)  # fmt: skip
def test_the_fee_is_read_from_the_resolve_s_event(logs: list[str], charged: str) -> None:
    from services.indexer.indexer import charged_by

    assert charged_by(logs, 4) == charged
