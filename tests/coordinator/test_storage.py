"""Guests' storage over real gRPC, on SQLite and PostgreSQL: a job's store is its project's (or
its repository's), reached only by the worker holding the job's lease; writes are versioned
(compare-and-swap), a new version of a project reads what the last one wrote, each caller has
a space of its own, and quotas refuse what would pass them, with nothing half-written."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from sqlalchemy import Engine

from outlayer.config import Settings
from outlayer.errors import ErrorCode, OutlayerError, error_from_rpc
from outlayer.v1 import coordinator_pb2 as pb_coordinator
from outlayer.v1 import storage_pb2 as pb
from outlayer.v1 import storage_pb2_grpc
from services.coordinator.queue import JobQueue, JobSpec
from services.coordinator.service import build_server
from services.coordinator.submit import spec_to_json
from services.coordinator.workers import register_worker
from tests.origins import https_call, near_request


@dataclass
class Stores:
    stub: storage_pb2_grpc.StorageServiceStub
    queue: JobQueue
    tokens: dict[str, str]

    def job(self, origin: pb_coordinator.JobOrigin, worker: str = "w1", repo: str = "") -> int:
        """A job of that origin, leased by ``worker``."""
        spec = pb_coordinator.JobSpec(origin=origin, wasm_sha256="ab" * 32)
        if repo:
            spec = pb_coordinator.JobSpec(origin=origin, code_source=pb_coordinator.CodeSource(
                repo=repo, commit="1" * 40))  # fmt: skip
        key = f"test:{origin.SerializeToString().hex()}"
        job_id = self.queue.enqueue(
            JobSpec(key, origin.WhichOneof("origin") or "", spec_to_json(spec))
        )
        leased = self.queue.lease(worker)
        assert leased is not None and leased.id == job_id
        return job_id

    def as_worker(self, worker: str = "w1") -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.tokens[worker]}"),)

    def set(self, job_id: int, key: str, value: bytes, worker: str = "w1",
            **fields: object) -> pb.StorageValue:  # fmt: skip
        request = pb.StorageSetRequest(job_id=job_id, key=key, value=value, **fields)  # type: ignore[arg-type]
        answer: pb.StorageValue = self.stub.Set(request, metadata=self.as_worker(worker))
        return answer

    def get(self, job_id: int, key: str, **fields: object) -> pb.StorageValue:
        request = pb.StorageGetRequest(job_id=job_id, key=key, **fields)  # type: ignore[arg-type]
        answer: pb.StorageValue = self.stub.Get(request, metadata=self.as_worker())
        return answer


def refused(call: object) -> OutlayerError:
    with pytest.raises(grpc.RpcError) as caught:
        call()  # type: ignore[operator]
    return error_from_rpc(caught.value)


@pytest.fixture
def stores(engine: Engine, settings: Settings) -> Iterator[Stores]:
    configured = settings.model_copy(update={"coordinator": settings.coordinator.model_copy(
        update={"storage_max_keys": 5, "storage_max_bytes": 200,
                "storage_max_value_bytes": 100})})  # fmt: skip
    server, port = build_server(configured, engine, "127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    tokens = {name: register_worker(engine, name) for name in ("w1", "w2")}
    yield Stores(storage_pb2_grpc.StorageServiceStub(channel), JobQueue(engine), tokens)
    channel.close()
    server.stop(grace=None)


def test_values_are_versioned_and_compare_and_swap_refuses_a_stale_write(stores: Stores) -> None:
    job = stores.job(https_call("c1", project_owner="dev.near", project_name="game",
                                sender_id="alice.near"))  # fmt: skip
    assert stores.get(job, "score").found is False
    first = stores.set(job, "score", b"1", check_version=True, expected_version=0)  # only if new
    assert (first.version, first.value) == (1, b"1")
    assert stores.set(job, "score", b"2").version == 2
    stale = refused(lambda: stores.set(job, "score", b"3", check_version=True, expected_version=1))
    assert stale.code is ErrorCode.CONFLICT and "at version 2, not at version 1" in stale.message
    assert (stores.get(job, "score").value, stores.get(job, "score").version) == (b"2", 2)
    again = refused(lambda: stores.set(job, "score", b"x", check_version=True, expected_version=0))
    assert again.code is ErrorCode.CONFLICT  # "only if new" on a key that exists
    gone = stores.stub.Delete(pb.StorageDeleteRequest(job_id=job, key="score", check_version=True,
                                                      expected_version=2),
                              metadata=stores.as_worker())  # fmt: skip
    assert gone.deleted and stores.get(job, "score").found is False


def test_a_project_s_next_version_and_next_call_read_its_store_and_callers_have_their_own(
    stores: Stores,
) -> None:
    project = {"project_owner": "dev.near", "project_name": "game"}
    first = stores.job(https_call("c1", sender_id="alice.near", **project))
    stores.set(first, "high-score", b"900")
    stores.set(first, "mine", b"alice's", per_caller=True)
    # Another call (of any version of the project) by someone else.
    later = stores.job(https_call("c2", sender_id="bob.near", **project))
    assert stores.get(later, "high-score").value == b"900"
    assert stores.get(later, "mine", per_caller=True).found is False  # bob's space is his own
    assert stores.get(later, "mine").found is False  # and the shared space is not alice's
    other = stores.job(https_call("c3", project_owner="dev.near", project_name="other",
                                  sender_id="alice.near"))  # fmt: skip
    assert stores.get(other, "high-score").found is False  # another project, another store
    # A request on chain uses its repository's store, however the URL is spelt.
    on_chain = stores.job(near_request("outlayer.near", 1, sender_id="alice.near"),
                          repo="https://github.com/Dev/Game.git")  # fmt: skip
    stores.set(on_chain, "round", b"7")
    again = stores.job(near_request("outlayer.near", 2, sender_id="bob.near"),
                       repo="https://github.com/dev/game")  # fmt: skip
    assert stores.get(again, "round").value == b"7"


def test_listing_pages_through_a_prefix(stores: Stores) -> None:
    job = stores.job(https_call("c1", project_owner="dev.near", project_name="game",
                                sender_id="alice.near"))  # fmt: skip
    for key in ("player:a", "player:b", "player:c", "round"):
        stores.set(job, key, b"")
    keys, cursor = [], ""
    while True:
        ask = pb.StorageListRequest(job_id=job, prefix="player:", cursor=cursor, limit=2)
        page = stores.stub.List(ask, metadata=stores.as_worker())
        keys += list(page.keys)
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    assert keys == ["player:a", "player:b", "player:c"]


def test_quotas_refuse_what_would_pass_them_and_keep_the_store_as_it_was(stores: Stores) -> None:
    job = stores.job(https_call("c1", project_owner="dev.near", project_name="game",
                                sender_id="alice.near"))  # fmt: skip
    too_big = refused(lambda: stores.set(job, "k", b"x" * 101))
    assert too_big.code is ErrorCode.LIMIT_EXCEEDED and "at most 100 bytes" in too_big.message
    for n in range(5):
        stores.set(job, f"k{n}", b"v" * 30)  # 5 keys, 160 bytes with their names
    sixth = refused(lambda: stores.set(job, "k5", b"v"))
    assert sixth.code is ErrorCode.LIMIT_EXCEEDED and "quota of 5 keys" in sixth.message
    bigger = refused(lambda: stores.set(job, "k0", b"v" * 80))  # 160 - 32 + 82 = 210 > 200
    assert bigger.code is ErrorCode.LIMIT_EXCEEDED and "above its quota of 200" in bigger.message
    assert stores.get(job, "k0").value == b"v" * 30  # unchanged
    stores.stub.Delete(pb.StorageDeleteRequest(job_id=job, key="k4"), metadata=stores.as_worker())
    assert stores.set(job, "k5", b"v").version == 1  # room again


def test_only_the_worker_holding_the_job_s_lease_reaches_its_store(stores: Stores) -> None:
    job = stores.job(https_call("c1", project_owner="dev.near", project_name="game",
                                sender_id="alice.near"))  # fmt: skip
    stores.set(job, "k", b"v")
    stolen = refused(lambda: stores.set(job, "k", b"mine now", worker="w2"))
    assert stolen.code is ErrorCode.PERMISSION_DENIED and "not running on this worker" in (
        stolen.message
    )
    anonymous = refused(lambda: stores.stub.Get(pb.StorageGetRequest(job_id=job, key="k")))
    assert anonymous.code is ErrorCode.UNAUTHENTICATED
    stores.queue.complete(job, "w1", {"status": "success"})
    finished = refused(lambda: stores.get(job, "k"))
    assert finished.code is ErrorCode.PERMISSION_DENIED  # the job is over: its lease with it
    missing = refused(lambda: stores.get(10**9, "k"))
    assert missing.code is ErrorCode.NOT_FOUND
    bad_key = refused(lambda: stores.get(stores.job(https_call("c9", project_owner="d",
                                                               project_name="p")), ""))  # fmt: skip
    assert bad_key.code is ErrorCode.INVALID_ARGUMENT and "1 to 512 bytes" in bad_key.message
