"""Self-service end to end, from nothing but accounts on localnet: an owner makes a project on
chain, a user makes a payment key and tops it up with the test stablecoin, calls the project
over HTTPS (sync and async), the owner's earnings show, the operator (the indexer) settles them
on chain, the owner withdraws them, the user deletes the key and gets the rest back. Every
token is accounted for. Then what a careless or hostile user sends, each refused, nothing
moved."""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from devstack.demo import account, provision
from outlayer.config import Settings
from outlayer.near.actions import DeployContractAction
from outlayer.near.keys import Signer
from outlayer.near.rpc import NearRpc, TxOutcome
from outlayer.v1 import coordinator_pb2_grpc
from outlayer.wasmstore import WasmStore
from services.coordinator.database import make_engine, migrate
from services.coordinator.service import build_server
from services.coordinator.workers import register_worker
from services.edge.server import Edge, make_server
from services.executor import Executor
from services.executor.runner import JobRunner
from services.indexer.cursor import Cursor
from services.indexer.feed import RequestFeed
from services.indexer.indexer import Chain, Indexer
from tests.conftest import built_contract, built_guest
from tests.localnet_server import running_localnet
from tests.test_secrets_flow import fnv1a

NEAR = 10**24
USD = 10**6  # the test stablecoin has 6 decimals, as USDC
SUPPLY = 1000 * USD


@dataclass
class Platform:
    rpc: NearRpc
    outlayer: Signer  # the contract, and its owner (the compute fees are its earnings)
    worker: Signer  # the operator: signs resolves and settlements
    dev: Signer  # a project owner
    alice: Signer  # a caller with the whole token supply
    token: str
    http: httpx.Client
    indexer: Indexer
    store: WasmStore

    def call(self, signer: Signer, method: str, args: Any, deposit: int = 0) -> TxOutcome:
        return self.rpc.function_call(signer, self.outlayer.account_id, method, args,
                                      deposit=deposit)  # fmt: skip

    def ok(self, signer: Signer, method: str, args: Any, deposit: int = 0) -> Any:
        outcome = self.call(signer, method, args, deposit)
        assert outcome.failure is None, outcome.failure
        return outcome.value

    def view(self, method: str, args: Any) -> Any:
        return self.rpc.view(self.outlayer.account_id, method, args)

    def ft_balance(self, account_id: str) -> int:
        return int(self.rpc.view(self.token, "ft_balance_of", {"account_id": account_id}))

    def top_up(self, signer: Signer, owner: str, nonce: int, amount: int) -> TxOutcome:
        msg = json.dumps({"action": "top_up_payment_key", "owner": owner, "nonce": nonce})
        return self.rpc.function_call(signer, self.token, "ft_transfer_call", {
            "receiver_id": self.outlayer.account_id, "amount": str(amount), "msg": msg,
        }, deposit=1)  # fmt: skip

    def new_key(self, signer: Signer, **limits: Any) -> tuple[int, str]:
        secret = "olk_" + secrets.token_urlsafe(32)
        made = self.ok(signer, "create_payment_key", {
            "key_hash": hashlib.sha256(secret.encode()).hexdigest(), "token_id": self.token,
            **limits,
        }, deposit=NEAR // 10)  # fmt: skip
        return int(made["nonce"]), secret

    def public(self, path: str) -> Any:
        answer = self.http.get(path)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def https_call(self, secret: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        sent = {"X-Payment-Key": secret, **{k.replace("_", "-"): v for k, v in headers.items()}}
        return self.http.post(f"/call/{self.dev.account_id}/echo", json=body, headers=sent)


def eventually(check: Callable[[], Any], what: str, timeout_s: float = 30.0) -> Any:
    """Waits for the indexer to mirror (or settle) what the chain did."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:g} s: {what}")
        time.sleep(0.1)


def answer_where(fetch: Callable[[], Any], accept: Callable[[Any], bool], what: str) -> Any:
    """The first answer of ``fetch`` that ``accept`` takes."""
    found: list[Any] = []

    def check() -> bool:
        answer = fetch()
        if accept(answer):
            found.append(answer)
        return bool(found)

    eventually(check, what)
    return found[0]


@pytest.fixture
def platform(tmp_path: Path, settings: Settings, executor: Executor) -> Iterator[Platform]:
    stack = ExitStack()
    url, root = stack.enter_context(running_localnet(tmp_path, 0.05))
    rpc = NearRpc(url)
    quiet = lambda _: None  # noqa: E731
    outlayer, worker = provision(rpc, root, tmp_path, log=quiet)
    dev = account(rpc, root, "dev", tmp_path, log=quiet)
    alice = account(rpc, root, "alice", tmp_path, log=quiet)
    token_signer = account(rpc, root, "usdc", tmp_path, log=quiet)
    token = token_signer.account_id
    assert rpc.send(token_signer, token, [DeployContractAction(built_contract("test_token"))])
    assert rpc.function_call(token_signer, token, "new", {
        "owner_id": alice.account_id, "total_supply": str(SUPPLY)}).failure is None  # fmt: skip
    assert rpc.function_call(outlayer, outlayer.account_id, "add_token",
                             {"token_id": token}).failure is None  # fmt: skip

    engine = make_engine(f"sqlite:///{tmp_path / 'coordinator.db'}")
    migrate(engine)
    server, port = build_server(settings, engine, "127.0.0.1:0")
    server.start()
    stack.callback(server.stop, None)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stack.callback(channel.close)
    store = WasmStore(tmp_path / "wasm")
    store.put(built_guest("echo_json_rust"))
    stop = threading.Event()
    runner = JobRunner(executor, channel, register_worker(engine, "w1"), store)
    stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
    indexer = Indexer(RequestFeed(rpc, outlayer.account_id), stub, rpc=rpc, operator=worker,
                      chain=Chain(outlayer.account_id, "localnet"),
                      cursor=Cursor(tmp_path / "cursor.json"), start_height=0,
                      block_seconds=0.05, settle_https_seconds=0.5)  # fmt: skip
    threads = [
        threading.Thread(target=runner.run_forever, args=(stop, 0.5), daemon=True),
        threading.Thread(target=indexer.run_forever, args=(stop, 0.1), daemon=True),
    ]
    for thread in threads:
        thread.start()
    edge = make_server(Edge(f"127.0.0.1:{port}"), "127.0.0.1", 0, None)
    threading.Thread(target=edge.serve_forever, daemon=True).start()
    stack.callback(edge.shutdown)
    http = stack.enter_context(
        httpx.Client(base_url=f"http://127.0.0.1:{edge.server_address[1]}", timeout=60)
    )
    yield Platform(rpc, outlayer, worker, dev, alice, token, http, indexer, store)
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
    stack.close()


def _echo_project(p: Platform) -> None:
    digest = hashlib.sha256(built_guest("echo_json_rust")).hexdigest()
    made = p.ok(p.dev, "create_project", {"name": "echo", "wasm_sha256": digest},
                deposit=NEAR // 10)  # fmt: skip
    assert made["project_id"] == f"{p.dev.account_id}/echo"
    eventually(lambda: p.http.get(f"/public/projects/{p.dev.account_id}/echo").status_code
               == 200, "the project mirrored")  # fmt: skip


def _mirrored_balance(p: Platform, owner: str, nonce: int, amount: int) -> None:
    path = f"/public/payment-keys/{owner}/{nonce}/balance"
    eventually(lambda: p.http.get(path).status_code == 200
               and p.http.get(path).json()["balance"] == str(amount),
               f"key {owner}/{nonce} holds {amount}")  # fmt: skip


def _token_total(p: Platform) -> int:
    holders = (p.alice, p.dev, p.outlayer, p.worker)
    return sum(p.ft_balance(h.account_id) for h in holders)


def test_from_accounts_to_withdrawn_earnings_every_token_accounted_for(platform: Platform) -> None:
    p = platform
    alice, dev = p.alice.account_id, p.dev.account_id
    assert _token_total(p) == SUPPLY
    _echo_project(p)
    described = p.public(f"/public/projects/{dev}/echo")
    assert described["on_chain"] is True and described["version"] == 1

    nonce, secret = p.new_key(p.alice)
    assert p.top_up(p.alice, alice, nonce, 10 * USD).failure is None
    assert p.view("get_payment_key", {"owner": alice, "nonce": nonce})["balance"] == str(10 * USD)
    _mirrored_balance(p, alice, nonce, 10 * USD)

    # A sync call, paying the owner 1 USD, and an async one paying 0.5 USD.
    sync = p.https_call(secret, {"input": "hello", "response_format": "RESPONSE_FORMAT_JSON"},
                        X_Attached_Deposit=str(USD))  # fmt: skip
    assert sync.status_code == 200, sync.text
    first = sync.json()
    assert first["status"] == "done" and first["token_id"] == p.token
    output = first["result"]["output"]
    assert output["input"] == "hello"
    assert "NEAR_SENDER_ID" in output["env_names"]
    started = p.https_call(secret, {"input": "later", "async": True},
                           X_Attached_Deposit=str(USD // 2))  # fmt: skip
    assert started.status_code == 202, started.text
    poll = started.json()["poll_url"]
    second = answer_where(
        lambda: p.http.get(poll, params={"wait_seconds": 5},
                           headers={"X-Payment-Key": secret}).json(),
        lambda answer: answer["status"] == "done", "the async call finished",
    )  # fmt: skip
    charged = int(first["charged"]) + int(second["charged"])
    earned = USD + USD // 2
    compute = charged - earned
    assert compute > 0  # the compute, priced in the stablecoin's unit

    _settled_and_withdrawn(p, nonce, secret, charged, earned)


def _settled_and_withdrawn(p: Platform, nonce: int, secret: str, charged: int, earned: int) -> None:
    alice, dev = p.alice.account_id, p.dev.account_id
    compute = charged - earned
    # Earned over HTTPS: shown at once, unsettled until the operator settles it on chain.
    earnings = p.public(f"/public/project-earnings/{dev}")
    assert earnings["https_total"] == [{"token_id": p.token, "amount": str(earned)}]
    history = p.public(f"/public/project-earnings/{dev}/history")["entries"]
    assert len(history) == 2 and {e["source"] for e in history} == {"https"}
    assert sum(int(e["amount"]) for e in history) == earned
    usage = p.public(f"/public/payment-keys/{alice}/{nonce}/usage")["calls"]
    assert sum(int(c["charged"]) for c in usage) == charged

    def settled() -> bool:
        now = p.public(f"/public/project-earnings/{dev}")
        return bool(
            now["https_unsettled"] == []
            and now["on_chain"] == [{"token_id": p.token, "amount": str(earned)}]
        )

    eventually(settled, "the HTTPS earnings settled on chain and mirrored")
    assert p.view("get_developer_earnings", {"account_id": dev}) == {p.token: str(earned)}
    assert p.view("get_developer_earnings", {"account_id": p.outlayer.account_id}) == {
        p.token: str(compute)
    }  # the compute fees: the contract owner's
    key_on_chain = p.view("get_payment_key", {"owner": alice, "nonce": nonce})
    assert key_on_chain["balance"] == str(10 * USD - charged)
    _mirrored_balance(p, alice, nonce, 10 * USD - charged)
    balance = p.public(f"/public/payment-keys/{alice}/{nonce}/balance")
    assert balance["unsettled"] == "0" and balance["available"] == str(10 * USD - charged)
    # Every documented field, at its zero value when unset: not deleted, no cap, no expiry.
    assert {"deleted", "max_per_call", "allowed_projects", "expires_at_ns"} <= set(balance)
    assert balance["deleted"] is False and balance["expires_at_ns"] == "0"
    assert {e["settlement"] for e in p.public(
        f"/public/project-earnings/{dev}/history")["entries"]} == {"settled"}  # fmt: skip

    # The owner withdraws exactly what it earned; the user takes back what is left.
    dev_before = p.ft_balance(dev)
    assert p.ok(p.dev, "withdraw_developer_earnings", {"token_id": p.token}) is True
    assert p.ft_balance(dev) - dev_before == earned
    alice_before = p.ft_balance(alice)
    deleted = p.ok(p.alice, "delete_payment_key", {"nonce": nonce})
    assert deleted["refunded_balance"] == str(10 * USD - charged)
    assert p.ft_balance(alice) - alice_before == 10 * USD - charged
    assert p.ft_balance(p.outlayer.account_id) == compute  # the owner's fees, not withdrawn
    assert _token_total(p) == SUPPLY  # sum before = sum after

    # The deleted key is refused over HTTPS, once the mirror has seen the deletion.
    eventually(lambda: p.public(f"/public/payment-keys/{alice}/{nonce}/balance")["deleted"],
               "the deletion mirrored")  # fmt: skip
    refused = p.https_call(secret, {"input": "x"})
    assert refused.status_code == 401 and "deleted on chain" in refused.json()["message"]


def test_what_a_careless_or_hostile_user_sends_is_refused_and_moves_nothing(
    platform: Platform,
) -> None:
    p = platform
    alice, dev = p.alice.account_id, p.dev.account_id
    _echo_project(p)
    nonce, secret = p.new_key(p.alice)
    assert p.top_up(p.alice, alice, nonce, 5 * USD).failure is None
    # Someone else tops up Alice's key: the tokens go back to the sender, the key is unchanged.
    assert p.rpc.function_call(p.alice, p.token, "ft_transfer", {
        "receiver_id": dev, "amount": str(USD)}, deposit=1).failure is None  # fmt: skip
    assert p.top_up(p.dev, alice, nonce, USD).failure is None  # the token gives it back
    assert p.ft_balance(dev) == USD
    assert p.view("get_payment_key", {"owner": alice, "nonce": nonce})["balance"] == str(5 * USD)
    _mirrored_balance(p, alice, nonce, 5 * USD)

    # A key about to expire (topped up while it may be), one limited to another project, one
    # with a low max_per_call.
    expires = int(p.rpc.block()["header"]["timestamp_nanosec"]) + 8 * 10**9
    late_nonce, late_secret = p.new_key(p.alice, expires_at=expires)
    assert p.top_up(p.alice, alice, late_nonce, USD).failure is None
    other_nonce, other_secret = p.new_key(p.alice, allowed_projects=[f"{dev}/other"])
    small_nonce, small_secret = p.new_key(p.alice, max_per_call="150")
    for n in (other_nonce, small_nonce):
        assert p.top_up(p.alice, alice, n, USD).failure is None
    for n in (late_nonce, other_nonce, small_nonce):
        _mirrored_balance(p, alice, n, USD)
    not_allowed = p.https_call(other_secret, {"input": "x"})
    assert not_allowed.status_code == 403
    assert f"may pay only for {dev}/other" in not_allowed.json()["message"]
    too_dear = p.https_call(small_secret, {"input": "x"})
    assert too_dear.status_code == 402 and "max_per_call of 150" in too_dear.json()["message"]
    # Expiry is by the chain's clock (localnet's runs at a second per block), as the
    # coordinator last saw it: a call is refused once the mirror has seen a later block.
    eventually(lambda: int(p.rpc.block()["header"]["timestamp_nanosec"]) > expires,
               "the key expired on chain")  # fmt: skip
    expired = answer_where(lambda: p.https_call(late_secret, {"input": "x"}),
                           lambda answer: answer.status_code == 403,
                           "the coordinator refuses the expired key")  # fmt: skip
    assert "expired" in expired.json()["message"]
    # A compute limit below what the call's limits may cost.
    capped = p.https_call(secret, {"input": "x"}, X_Compute_Limit="10")
    assert capped.status_code == 400 and "above X-Compute-Limit 10" in capped.json()["message"]
    for n in (other_nonce, small_nonce, late_nonce):
        balance = p.public(f"/public/payment-keys/{alice}/{n}/balance")
        assert (balance["available"], balance["held"]) == (str(USD), "0")  # nothing held

    # One paid call, settled; then the operator replays that settlement: refused, nothing moves.
    paid = p.https_call(secret, {"input": "x"}, X_Attached_Deposit="1000")
    assert paid.status_code == 200, paid.text
    charge = int(paid.json()["charged"])
    eventually(lambda: p.view("get_https_settlement", {})["last_ledger_id"] >= 1,
               "the call settled on chain")  # fmt: skip
    replay = p.call(p.worker, "settle_https_usage", {"entries": [{
        "ledger_id": 1, "key_owner": alice, "key_nonce": nonce, "owner": dev,
        "project": "echo", "amount": "1000", "fee": str(charge - 1000),
    }]})  # fmt: skip
    assert replay.failure is not None and "settled already" in replay.failure
    assert p.view("get_payment_key", {"owner": alice, "nonce": nonce})["balance"] == str(
        5 * USD - charge
    )
    forged = p.call(p.alice, "settle_https_usage", {"entries": [{
        "ledger_id": 99, "key_owner": alice, "key_nonce": nonce, "owner": alice,
        "project": "echo", "amount": "1", "fee": "0",
    }]})  # fmt: skip
    assert forged.failure is not None and "only the operator" in forged.failure

    # A withdrawal above the earnings: refused, the earnings stay.
    eventually(lambda: p.view("get_developer_earnings", {"account_id": dev}) == {p.token: "1000"},
               "the earnings on chain")  # fmt: skip
    too_much = p.call(p.dev, "withdraw_developer_earnings", {"token_id": p.token, "amount": "1001"})
    assert too_much.failure is not None and "cannot withdraw 1001" in too_much.failure
    assert p.view("get_developer_earnings", {"account_id": dev}) == {p.token: "1000"}
    assert p.ft_balance(dev) == USD


def test_the_guest_sees_the_attached_usd_and_who_called_over_https(platform: Platform) -> None:
    p = platform
    alice, dev = p.alice.account_id, p.dev.account_id
    reporter = built_guest("env_report")  # reports each variable's FNV-1a, never the value
    p.store.put(reporter)
    p.ok(p.dev, "create_project", {"name": "env", "wasm_sha256": hashlib.sha256(reporter)
                                   .hexdigest()}, deposit=NEAR // 10)  # fmt: skip
    eventually(lambda: p.http.get(f"/public/projects/{dev}/env").status_code == 200,
               "the project mirrored")  # fmt: skip
    nonce, secret = p.new_key(p.alice)
    assert p.top_up(p.alice, alice, nonce, 3 * USD).failure is None
    _mirrored_balance(p, alice, nonce, 3 * USD)
    answer = p.http.post(
        f"/call/{dev}/env",
        json={"response_format": "RESPONSE_FORMAT_JSON"},
        headers={"X-Payment-Key": secret, "X-Attached-Deposit": str(2 * USD)},
    )
    assert answer.status_code == 200, answer.text
    seen = answer.json()["result"]["output"]["variables"]
    # The same unit as attached_usd on chain: the stablecoin's smallest unit, as sent.
    assert seen["ATTACHED_USD"] == seen["USD_PAYMENT"] == fnv1a(str(2 * USD))
    assert seen["NEAR_SENDER_ID"] == fnv1a(alice)
    assert seen["OUTLAYER_EXECUTION_TYPE"] == fnv1a("HTTPS")
    # A NEAR payment key cannot attach USD: refused before anything is held.
    near_secret = "olk_" + secrets.token_urlsafe(32)
    p.ok(p.alice, "create_payment_key", {
        "key_hash": hashlib.sha256(near_secret.encode()).hexdigest(), "token_id": "near",
    }, deposit=NEAR // 10)  # fmt: skip
    eventually(lambda: p.http.get(f"/public/payment-keys/{alice}/{nonce + 1}/balance")
               .status_code == 200, "the NEAR key mirrored")  # fmt: skip
    refused = p.http.post(
        f"/call/{dev}/env",
        json={},
        headers={"X-Payment-Key": near_secret, "X-Attached-Deposit": "5"},
    )
    assert refused.status_code == 400 and "holds NEAR" in refused.json()["message"]
