"""Guest capabilities end to end, over mTLS and the attested channel: a request on localnet and
HTTPS calls run a guest that counts in storage (the coordinator keeps the values, sealed with
the keystore's key), draws randomness the keystore proves for its request, and reads the chain
(a view of the OutLayer contract, an account, the final block) through the platform's RPC."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from devstack.demo import send_request, wait_final
from outlayer import vrf
from outlayer.config import Settings
from outlayer.near.keys import Signer
from outlayer.result import ExecutionResult
from outlayer.v1 import execution_pb2, keystore_pb2, public_pb2
from services.executor import Executor
from services.executor._guest_abi import PER_CALLER, HostStatus
from tests.capabilities.abi_guest import AbiGuest, Record, records
from tests.capabilities.platform import ADMIN_TOKEN, Chain0, Platform, running_platform

REPO = "https://github.com/alice/counter"
COMMIT = "5" * 40
LIMITS = {"max_instructions": 100_000_000, "max_execution_seconds": 10}


def guest(contract: str, user: str, price_url: str) -> AbiGuest:
    fetch = json.dumps({"method": "GET", "url": price_url}).encode()
    return (AbiGuest(fetch_hosts="localhost")
            .call("storage_increment", b"count", 1, 0)
            .call("storage_increment", b"count", 1, PER_CALLER)
            .call("random", b"coin")
            .call("near_view", contract.encode(), b"get_pricing", b"{}")
            .call("near_view_account", user.encode())
            .call("near_block")
            .call("near_view_account", b"nobody-here.localnet")
            .call("fetch", fetch)
            .call("storage_set", b"big", b"x" * 200, 0))  # fmt: skip


@pytest.fixture
def world(tmp_path: Path, settings: Settings, executor: Executor) -> Iterator[Platform]:
    def modules(chain: Chain0) -> dict[tuple[str, str], bytes]:
        wasm = guest(chain.contract, chain.alice, chain.oracle.url("/price")).wasm()
        return {(REPO, COMMIT): wasm}

    with running_platform(tmp_path, settings, executor, modules) as platform:
        yield platform


def request(world: Platform, user: Signer) -> tuple[int, list[Record], dict[str, Any]]:
    sent = send_request(world.rpc, user, world.contract,
                        code_source={"repo": REPO, "commit": COMMIT}, input_data="",
                        limits=LIMITS, response_format="bytes")  # fmt: skip
    world.work()
    result = wait_final(world.rpc, sent.tx_hash, user.account_id).value
    assert result["status"] == "success", result
    return int(result["request_id"]), records(result["output"]), result


def vrf_key(world: Platform) -> bytes:
    return bytes.fromhex(world.keystore.GetVrfPublicKey(keystore_pb2.GetVrfPublicKeyRequest())
                         .public_key)  # fmt: skip


def test_on_chain_requests_count_draw_and_read_the_chain(world: Platform) -> None:
    request_id, got, result = request(world, world.alice)
    assert got[0] == Record(1, b"1") and got[1] == Record(1, b"1")
    coin = json.loads(got[2].answer)
    origin = f"near:{world.contract}:{request_id}"
    assert coin["origin"] == origin and coin["prover"] == "keystore"
    proven = vrf.verify(
        vrf_key(world), vrf.alpha_for(origin, b"coin"), bytes.fromhex(coin["proof"])
    )
    assert proven.hex() == coin["output"]
    assert json.loads(got[3].answer) == world.rpc.view(world.contract, "get_pricing", {})
    assert json.loads(got[4].answer)["account_id"] == world.alice.account_id
    assert json.loads(got[5].answer)["height"] > 0
    assert got[6].status == HostStatus.NOT_FOUND and b"nobody-here.localnet" in got[6].answer
    price = json.loads(got[7].answer)
    assert price["status"] == 200
    assert json.loads(base64.b64decode(price["body"]))["price"] == "3.14"
    assert got[8].status == HostStatus.QUOTA and b"at most 100 bytes" in got[8].answer
    used = result["resources_used"]
    assert used["instructions"] > 7 * 50_000  # host calls are paid as instructions on chain

    # The same repository's store, the next request: the shared count goes on; bob's own
    # space starts at 1 while alice's was hers.
    _, again, _ = request(world, world.bob)
    assert again[0] == Record(1, b"2") and again[1] == Record(1, b"1")
    second_id, third, _ = request(world, world.alice)
    assert third[0] == Record(1, b"3") and third[1] == Record(1, b"2")
    assert json.loads(third[2].answer)["output"] != coin["output"]  # another request, another draw
    assert second_id > request_id

    # The coordinator holds ciphertext: 40 bytes of nonce and tag around a 1-byte count.
    with world.engine.connect() as connection:
        rows = connection.execute(text(
            "SELECT namespace, caller, key, value FROM storage_entries")).fetchall()  # fmt: skip
    assert {(r[0], r[1], r[2]) for r in rows} == {
        (f"repo:{REPO}", "", "count"), (f"repo:{REPO}", world.alice.account_id, "count"),
        (f"repo:{REPO}", world.bob.account_id, "count"),
    }  # fmt: skip
    assert all(len(r[3]) == 41 and bytes(r[3]) not in (b"1", b"2", b"3") for r in rows)


def test_https_calls_count_in_their_projects_store(world: Platform) -> None:
    admin = (("x-admin-token", ADMIN_TOKEN),)
    source = public_pb2.ProjectSource(repo=REPO, commit=COMMIT)
    world.public.CreateProject(public_pb2.CreateProjectRequest(
        owner="dev.localnet", name="counter", code_source=source), metadata=admin)  # fmt: skip
    key = world.public.CreatePaymentKey(public_pb2.CreatePaymentKeyRequest(
        owner=world.alice.account_id, balance=str(10**24)), metadata=admin)  # fmt: skip
    paid = (("x-payment-key", key.secret),)

    def call() -> tuple[str, list[Record], ExecutionResult]:
        pending = world.public.Call(public_pb2.CallRequest(
            owner="dev.localnet", project="counter", wait_seconds=0.01,
            response_format=execution_pb2.RESPONSE_FORMAT_BYTES), metadata=paid)  # fmt: skip
        while world.runner.run_once() is not None:
            pass
        done = world.public.GetCall(public_pb2.GetCallRequest(call_id=pending.call_id),
                                    metadata=paid)  # fmt: skip
        result = ExecutionResult.from_proto(done.result)
        assert result.ok, result.to_json()
        return pending.call_id, records(result.output), result

    call_id, first, result = call()
    assert first[0] == Record(1, b"1") and first[1] == Record(1, b"1")
    coin = json.loads(first[2].answer)
    assert coin["origin"] == f"https:{call_id}"
    vrf.verify(vrf_key(world), vrf.alpha_for(f"https:{call_id}", b"coin"),
               bytes.fromhex(coin["proof"]))  # fmt: skip
    assert result.resources_used.capabilities["storage_writes"] == 3  # the refused one too
    assert result.resources_used.capabilities["chain_calls"] == 4
    assert result.resources_used.capabilities["fetch_requests"] == 1
    assert json.loads(first[7].answer)["status"] == 200
    _, second, _ = call()
    assert second[0] == Record(1, b"2")  # the project's store, not the repository's
