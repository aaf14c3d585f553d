"""A stateful property test of the contract's money (issue 17), on localnet with the compiled
contract: several users, workers, project owners and tokens; requests resolved, timed out and
cancelled; pricing changes, pause, remove_worker, secrets with NFT conditions; and the
self-service of issue 13: projects (storage paid by their owner), payment keys funded in a
stablecoin or in NEAR, HTTPS usage settled by the operator into earnings, withdrawals.

After every step: NEAR and each token's supply are conserved; the contract's NEAR is exactly
its starting balance plus the deposits it escrows plus the storage deposits of secrets,
projects and payment keys (which equal the bytes they take) plus the NEAR in payment keys and
earnings; its token balance is exactly what it owes users, payment keys and project owners;
every request is settled once; each charge is the request-time pricing applied to the usage
capped by the limits, and the rest of the deposit is refunded.

Bounded for CI by the ``ci`` profile (about 4 minutes on 2 cores); ``make fuzz`` runs the
``fuzz`` profile (OUTLAYER_FUZZ=1) for a longer search.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import event as outcome
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from localnet.chain import YIELD_TIMEOUT_BLOCKS
from localnet.node import NEAR, Localnet, TxResult
from localnet.vm import CallContext, CallOutcome, ContractVM, StateView
from tests.conftest import built_contract
from tests.contract.conftest import SOURCE

settings.register_profile(
    "ci",
    max_examples=50,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "fuzz",
    max_examples=500,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROFILE = "fuzz" if os.environ.get("OUTLAYER_FUZZ") else "ci"
# About 4 minutes with the ci profile on 2 cores (every step checks the invariants on chain).
pytestmark = pytest.mark.timeout(900)

OUTLAYER, OWNER = "outlayer.test", "owner.test"
USERS = ("u1.test", "u2.test", "u3.test")
WORKERS = ("w1.test", "w2.test")
DEVS = ("d1.test", "d2.test")
TOKENS = ("t1.test", "t2.test")
NFT = "nft.test"
ACCOUNTS = (OUTLAYER, OWNER, *USERS, *WORKERS, *DEVS, *TOKENS, NFT)
SUPPLY = 10**12
STORAGE_PRICE = 10**19
STALE_NS = 600 * 10**9
LIMITS = (
    {"max_instructions": 1_000_000, "max_execution_seconds": 5},
    {"max_instructions": 10**9, "max_execution_seconds": 60},
    {"max_instructions": 5_000, "max_execution_seconds": 1},
)
BRANCHES = (None, "", "main")
ACCESS: tuple[dict[str, Any] | None, ...] = (
    None,
    {"AllowAll": {}},
    {"NftOwned": {"contract_id": NFT}},
    {"Logic": {"operator": "Or", "conditions": [
        {"NftOwned": {"contract_id": NFT}}, {"Whitelist": {"accounts": list(USERS)}}]}},
)  # fmt: skip
REPOS = ("https://github.com/a/b", "  HTTPS://GitHub.com/A/B.git/ ", "https://github.com/c/d")
PROJECTS = ("p1", "p2")
KEY_TOKENS = (*TOKENS, "near")
GRACE_BLOCKS = 200  # a stored output its callback did not take is freed by a later resolve
VM = ContractVM()  # modules compiled once for every example


def rule_with(
    args: dict[str, st.SearchStrategy[Any]],
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    return rule(**args)  # type: ignore[call-overload, no-any-return]


REQUEST_ARGS: dict[str, st.SearchStrategy[Any]] = {
    "user": st.sampled_from(USERS),
    "limits": st.sampled_from(LIMITS),
    "input_size": st.sampled_from([0, 10, 300, 3_000]),
    "extra": st.sampled_from([0, 1, 10**21, 10**24]),
    "usd": st.one_of(st.just(0), st.just(0), st.integers(0, 3), st.integers(0, SUPPLY // 50)),
    "token": st.sampled_from(TOKENS),
    "dev": st.sampled_from(DEVS),
}
RESOLVE_ARGS: dict[str, st.SearchStrategy[Any]] = {
    "index": st.integers(0, 100),
    "worker": st.sampled_from(WORKERS),
    "success": st.booleans(),
    "instructions": st.integers(0, 10**6) | st.integers(0, 10**12),
    "time_ms": st.integers(0, 70_000),
    "compile_ms": st.just(0) | st.integers(0, 400_000),
    "refund": st.integers(0, 3) | st.integers(0, SUPPLY),
    "output_size": st.sampled_from([0, 50, 2_000, 15_000]),
    "callback_fails": st.sampled_from([False, False, False, True]),
}


class FailingCallbacks(ContractVM):
    """The shared VM, except that every on_execution_response fails."""

    def __init__(self) -> None:
        self.engine = VM.engine
        self._modules = VM._modules

    def call(self, code: bytes, method: str, ctx: CallContext, state: StateView) -> CallOutcome:
        if method == "on_execution_response":
            return CallOutcome(ok=False, error="GasExceeded: injected by the test")
        return super().call(code, method, ctx, state)


@dataclass
class Request:
    request_id: int
    sender: str
    deposit: int
    limits: dict[str, int]
    pricing: dict[str, str]
    usd: int
    token: str | None
    dev: str | None
    timestamp: int
    height: int
    tx_hash: bytes
    settled_by: str | None = None


@dataclass
class Key:
    owner: str
    nonce: int
    token: str
    balance: int = 0


@dataclass
class Model:
    pricing: dict[str, str]
    paused: bool = False
    workers: set[str] = field(default_factory=lambda: {WORKERS[0]})
    requests: dict[int, Request] = field(default_factory=dict)
    fees: int = 0
    near_spent: dict[str, int] = field(default_factory=dict)  # fees and 1-yocto calls
    secrets_held: dict[str, int] = field(default_factory=dict)
    balances: dict[tuple[str, str], int] = field(default_factory=dict)  # (user, token)
    earnings: dict[tuple[str, str], int] = field(default_factory=dict)  # (dev, token or "near")
    storage_held: dict[str, int] = field(default_factory=dict)  # projects' and keys' storage
    projects: set[tuple[str, str]] = field(default_factory=set)
    keys: dict[tuple[str, int], Key] = field(default_factory=dict)
    nonces: dict[str, int] = field(default_factory=dict)
    last_ledger_id: int = 0
    near_received: dict[str, int] = field(default_factory=dict)  # NEAR earnings withdrawn
    withdrawals: int = 0  # each ft_transfer of earnings attaches 1 yoctoNEAR of the contract's
    settled: dict[str, int] = field(default_factory=dict)
    stranded: dict[int, int] = field(default_factory=dict)  # outputs of failed callbacks

    def pending(self) -> list[Request]:
        return [r for r in self.requests.values() if r.settled_by is None]


def charge(request: Request, used: dict[str, int]) -> int:
    p, limits = request.pricing, request.limits
    instructions = min(used["instructions"], limits["max_instructions"])
    ms = min(used["time_ms"], limits["max_execution_seconds"] * 1000)
    compile_ms = min(used["compile_ms"], int(p["max_compile_ms"]))
    fee = (
        int(p["base_fee"])
        + instructions * int(p["per_instruction"])
        + ms * int(p["per_ms"])
        + compile_ms * int(p["per_compile_ms"])
    )
    return min(fee, request.deposit)


class ContractMoney(RuleBasedStateMachine):
    ln: Localnet
    model: Model
    start: dict[str, int]
    near_total: int

    @initialize()
    def set_up(self) -> None:
        ln = Localnet()
        ln.chain.vm = VM
        for account in ACCOUNTS:
            ln.create_account(account, 10_000 * NEAR)
        assert ln.deploy(OUTLAYER, built_contract("outlayer")).success
        assert ln.call(OWNER, OUTLAYER, "new", {"owner_id": OWNER}).success
        assert ln.call(OWNER, OUTLAYER, "add_worker", {"account_id": WORKERS[0]}).success
        for token in TOKENS:
            assert ln.deploy(token, built_contract("test_token")).success
            new = {"owner_id": USERS[0], "total_supply": str(SUPPLY)}
            assert ln.call(token, token, "new", new).success
            for user in USERS[1:]:
                sent = {"receiver_id": user, "amount": str(SUPPLY // 4)}
                assert ln.call(USERS[0], token, "ft_transfer", sent, deposit=1).success
            assert ln.call(OWNER, OUTLAYER, "add_token", {"token_id": token}).success
        assert ln.deploy(NFT, built_contract("test_nft")).success
        assert ln.call(NFT, NFT, "new", {"owner_id": NFT}).success
        minted = {"token_id": "1", "receiver_id": USERS[0]}
        assert ln.call(NFT, NFT, "nft_mint", minted).success
        self.ln = ln
        self.model = Model(pricing=ln.view(OUTLAYER, "get_pricing"))
        self.start = {a: ln.balance(a) for a in ACCOUNTS}
        self.near_total = self.total_near()

    # --- helpers ------------------------------------------------------------------------------
    def total_near(self) -> int:
        return sum(account.amount for account in self.ln.chain.accounts.values())

    def call(self, signer: str, method: str, args: Any, deposit: int = 0) -> TxResult:
        return self.ln.call(signer, OUTLAYER, method, args, deposit=deposit)

    def spend(self, account: str, value: int) -> None:
        self.model.near_spent[account] = self.model.near_spent.get(account, 0) + value

    def settle(self, request: Request, fee: int, how: str, usd_back: int) -> None:
        assert request.settled_by is None, f"request {request.request_id} settled twice"
        request.settled_by = how
        self.model.fees += fee
        self.spend(request.sender, fee)
        self.model.settled[how] = self.model.settled.get(how, 0) + 1
        if request.usd and request.token and request.dev:
            key = (request.sender, request.token)
            self.model.balances[key] = self.model.balances.get(key, 0) + usd_back
            earned = request.usd - usd_back
            if earned:
                dev_key = (request.dev, request.token)
                self.model.earnings[dev_key] = self.model.earnings.get(dev_key, 0) + earned

    def pick(self, index: int) -> Request | None:
        pending = self.model.pending()
        return pending[index % len(pending)] if pending else None

    # --- rules --------------------------------------------------------------------------------
    @rule(user=st.sampled_from(USERS), token=st.sampled_from(TOKENS),
          value=st.integers(1, SUPPLY // 100))  # fmt: skip
    def deposit_usd(self, user: str, token: str, value: int) -> None:
        args = {
            "receiver_id": OUTLAYER,
            "amount": str(value),
            "msg": '{"action":"deposit_balance"}',
        }
        assert self.ln.call(user, token, "ft_transfer_call", args, deposit=1).success
        self.spend(user, 1)
        key = (user, token)
        self.model.balances[key] = self.model.balances.get(key, 0) + value

    @rule_with(REQUEST_ARGS)
    def request(
        self, *, user: str, limits: dict[str, int], input_size: int, extra: int, usd: int,
        token: str, dev: str,
    ) -> None:  # fmt: skip
        input_data = "i" * input_size
        estimate = int(self.ln.view(OUTLAYER, "estimate_execution_cost", {
            "resource_limits": limits, "input_data": input_data}))  # fmt: skip
        deposit = estimate + extra
        body: dict[str, Any] = {"code_source": SOURCE, "resource_limits": limits,
                                "input_data": input_data}  # fmt: skip
        if usd:
            body.update(attached_usd=str(usd), usd_token_id=token, project_owner_id=dev)
        before = self.ln.balance(user)
        result = self.call(user, "request_execution", body, deposit)
        ok = (
            not self.model.paused
            and extra >= 0
            and usd <= self.model.balances.get((user, token), 0)
        )
        if not ok:
            assert not result.success and result.final
            assert self.ln.balance(user) == before
            return
        assert not result.final, result.failure  # yielded
        data = next(
            json.loads(log[len("EVENT_JSON:") :])["data"][0]
            for log in result.logs
            if log.startswith("EVENT_JSON:")
        )
        if usd:
            self.model.balances[(user, token)] -= usd
        record = self.ln.view(OUTLAYER, "get_request", {"request_id": data["request_id"]})
        assert record["pricing"] == self.model.pricing
        self.model.requests[data["request_id"]] = Request(
            request_id=data["request_id"], sender=user, deposit=deposit, limits=limits,
            pricing=dict(self.model.pricing), usd=usd, token=token if usd else None,
            dev=dev if usd else None, timestamp=data["timestamp"], height=self.ln.chain.height,
            tx_hash=result.tx_hash,
        )  # fmt: skip

    @precondition(lambda self: self.model.pending())
    @rule_with(RESOLVE_ARGS)
    def resolve(
        self, *, index: int, worker: str, success: bool, instructions: int, time_ms: int,
        compile_ms: int, refund: int, output_size: int, callback_fails: bool,
    ) -> None:  # fmt: skip
        request = self.pick(index)
        assert request is not None
        used = {"instructions": instructions, "time_ms": time_ms, "compile_ms": compile_ms}
        body = {
            "request_id": request.request_id, "success": success, "output": "o" * output_size,
            "resources_used": used, "refund_usd": str(refund),
            "error": None if success else {"type": "runtime_error", "message": "trap"},
        }  # fmt: skip
        owner_before = self.ln.balance(OWNER)
        if callback_fails:  # fault injection: the caller's callback fails (out of gas, say)
            self.ln.chain.vm = FailingCallbacks()
        try:
            result = self.call(worker, "resolve_execution", body)
        finally:
            self.ln.chain.vm = VM
        if worker not in self.model.workers:
            assert not result.success and "only registered workers" in (result.failure or "")
            return
        assert result.success, result.failure
        now = result.outcomes[0].block_height
        for stale in [i for i, h in self.model.stranded.items() if now - h > GRACE_BLOCKS]:
            del self.model.stranded[stale]  # the resolve swept it
        fee = charge(request, used)
        assert self.ln.balance(OWNER) - owner_before == fee  # settled even if the callback fails
        usd_back = min(refund, request.usd) if success else request.usd
        self.settle(request, fee, "completed" if success else "failed", usd_back)
        outcome = self.ln.result(request.tx_hash)
        if callback_fails:
            assert outcome.final and not outcome.success
            if output_size > 800:  # the result did not fit in the resume payload
                self.model.stranded[request.request_id] = now
            return
        assert outcome.final and outcome.success, outcome.failure
        answer = outcome.json()
        assert answer["status"] == ("success" if success else "failed")
        assert answer["charged"] == str(fee) and answer["output"] == "o" * output_size
        assert answer["refund_usd"] == str(usd_back)

    @rule(user=st.sampled_from(USERS), limits=st.sampled_from(LIMITS))
    def underfunded_request(self, user: str, limits: dict[str, int]) -> None:
        self.request(user=user, limits=limits, input_size=10, extra=-1, usd=0, token=TOKENS[0],
                     dev=DEVS[0])  # fmt: skip

    # The same rules again: hypothesis picks rules evenly, and these are the ones that matter.
    @rule_with(REQUEST_ARGS)
    def another_request(self, **args: Any) -> None:
        self.request(**args)

    @precondition(lambda self: self.model.pending())
    @rule_with(RESOLVE_ARGS)
    def another_resolve(self, **args: Any) -> None:
        self.resolve(**args)

    @precondition(lambda self: self.model.pending())
    @rule(index=st.integers(0, 100), by_sender=st.booleans(), wait=st.booleans())
    def cancel(self, index: int, by_sender: bool, wait: bool) -> None:
        request = self.pick(index)
        assert request is not None
        if wait:
            self.ln.chain.advance_time(600)
            self.ln.chain.produce_block()
            self.expire_timeouts()
            if request.settled_by is not None:
                return
        signer = request.sender if by_sender else next(u for u in USERS if u != request.sender)
        result = self.call(signer, "cancel_stale_execution", {"request_id": request.request_id})
        old_enough = self.ln.chain.head.timestamp_ns - request.timestamp >= STALE_NS
        if not (by_sender and old_enough):
            assert not result.success
            return
        assert result.success, result.failure
        self.settle(request, min(int(request.pricing["base_fee"]), request.deposit),
                    "cancelled", request.usd)  # fmt: skip

    @rule(blocks=st.sampled_from([1, 20, YIELD_TIMEOUT_BLOCKS]))
    def advance(self, blocks: int) -> None:
        for _ in range(blocks):
            self.ln.chain.produce_block()
        self.ln.chain.run_until_idle()
        self.expire_timeouts()

    def expire_timeouts(self) -> None:
        """Yields older than YIELD_TIMEOUT_BLOCKS were delivered as timeouts; settle the model
        (a yield is created in the block after the request's transaction was sent)."""
        self.ln.chain.run_until_idle()
        for request in self.model.pending():
            if self.ln.chain.height >= request.height + YIELD_TIMEOUT_BLOCKS:
                outcome = self.ln.result(request.tx_hash)
                assert outcome.final, "a yield outlived its timeout"
                assert outcome.json()["error"]["type"] == "timeout"
                fee = min(int(request.pricing["base_fee"]), request.deposit)
                self.settle(request, fee, "timed_out", request.usd)

    @rule(
        base_fee=st.integers(0, 10**22),
        per_instruction=st.integers(0, 10**7),
        per_ms=st.integers(0, 10**20),
        per_compile_ms=st.none() | st.integers(0, 10**19),
        max_compile_ms=st.none() | st.integers(0, 10**6),
    )
    def set_pricing(
        self, *, base_fee: int, per_instruction: int, per_ms: int, per_compile_ms: int | None,
        max_compile_ms: int | None,
    ) -> None:  # fmt: skip
        body: dict[str, Any] = {"base_fee": str(base_fee), "per_instruction": str(per_instruction),
                                "per_ms": str(per_ms)}  # fmt: skip
        if per_compile_ms is not None:
            body["per_compile_ms"] = str(per_compile_ms)
        if max_compile_ms is not None:
            body["max_compile_ms"] = str(max_compile_ms)
        assert self.call(OWNER, "set_pricing", body).success
        self.model.pricing = {**self.model.pricing, **body}

    @rule(action=st.sampled_from(["pause", "unpause", "unpause", "add", "add", "remove"]),
          worker=st.sampled_from(WORKERS))  # fmt: skip
    def admin(self, action: str, worker: str) -> None:
        """Pause (mostly not) and the worker set: one rule, so that requests get most steps."""
        if action in ("pause", "unpause"):
            assert self.call(OWNER, "set_paused", {"paused": action == "pause"}).success
            self.model.paused = action == "pause"
            return
        method = "add_worker" if action == "add" else "remove_worker"
        assert self.call(OWNER, method, {"account_id": worker}).success
        (self.model.workers.add if action == "add" else self.model.workers.discard)(worker)

    @rule(
        user=st.sampled_from(USERS),
        repo=st.sampled_from(REPOS),
        branch=st.sampled_from(BRANCHES),
        profile=st.sampled_from(["p", "q"]),
        blob_quads=st.integers(1, 300),
        access=st.sampled_from(ACCESS),
        deposit=st.sampled_from([0, 10**21, NEAR]),
    )
    def store_secrets(
        self, *, user: str, repo: str, branch: str | None, profile: str, blob_quads: int,
        access: dict[str, Any] | None, deposit: int,
    ) -> None:  # fmt: skip
        body: dict[str, Any] = {"repo": repo, "branch": branch, "profile": profile,
                                "encrypted_secrets_base64": "QUJD" * blob_quads}  # fmt: skip
        if access is not None:
            body["access"] = access
        before = self.ln.balance(user)
        result = self.call(user, "store_secrets", body, deposit)
        if result.success:
            paid = before - self.ln.balance(user)
            assert paid == deposit - int(result.json()["refunded"])
            self.model.secrets_held[user] = self.model.secrets_held.get(user, 0) + paid
        else:
            assert "attach at least" in (result.failure or ""), result.failure
            assert self.ln.balance(user) == before

    @rule(user=st.sampled_from(USERS), repo=st.sampled_from(REPOS),
          branch=st.sampled_from(BRANCHES), profile=st.sampled_from(["p", "q"]))  # fmt: skip
    def delete_secrets(self, user: str, repo: str, branch: str | None, profile: str) -> None:
        before = self.ln.balance(user)
        body = {"repo": repo, "branch": branch, "profile": profile}
        result = self.call(user, "delete_secrets", body)
        if result.success:
            self.model.secrets_held[user] -= self.ln.balance(user) - before
        else:
            assert "no secrets stored" in (result.failure or "")

    @rule(who=st.sampled_from((*DEVS, OWNER)), token=st.sampled_from(KEY_TOKENS),
          part=st.sampled_from([None, 1, 10**30]))  # fmt: skip
    def withdraw(self, who: str, token: str, part: int | None) -> None:
        """Earnings of requests and of settled HTTPS usage, all or part, in a token or NEAR."""
        owed = self.model.earnings.get((who, token), 0)
        body: dict[str, Any] = {"token_id": token}
        if part is not None:
            body["amount"] = str(part)
        before = self.ln.balance(who)
        result = self.ln.call(who, OUTLAYER, "withdraw_developer_earnings", body)
        value = owed if part is None else part
        if not owed or value > owed:
            message = "no earnings" if not owed else "cannot withdraw"
            assert not result.success and message in (result.failure or ""), result.failure
            return
        assert result.json() is True
        outcome(f"earnings withdrawn in {'near' if token == 'near' else 'a token'}")
        self.model.earnings[(who, token)] = owed - value
        if token == "near":
            assert self.ln.balance(who) - before == value
            self.model.near_received[who] = self.model.near_received.get(who, 0) + value
        else:
            self.model.withdrawals += 1

    @rule(user=st.sampled_from(USERS), token=st.sampled_from(TOKENS),
          part=st.sampled_from([None, 1, SUPPLY]))  # fmt: skip
    def withdraw_balance(self, user: str, token: str, part: int | None) -> None:
        owed = self.model.balances.get((user, token), 0)
        body: dict[str, Any] = {"token_id": token}
        if part is not None:
            body["amount"] = str(part)
        result = self.call(user, "withdraw_user_balance", body)
        value = owed if part is None else part
        if not owed or value > owed:
            assert not result.success
            return
        assert result.json() is True
        self.model.balances[(user, token)] = owed - value
        self.model.withdrawals += 1

    # --- projects and payment keys (issue 13) -------------------------------------------------
    def hold(self, user: str, value: int) -> None:
        self.model.storage_held[user] = self.model.storage_held.get(user, 0) + value

    @rule(user=st.sampled_from(USERS), name=st.sampled_from(PROJECTS),
          deposit=st.sampled_from([0, 10**22]), wasm=st.booleans())  # fmt: skip
    def create_or_add_version(self, user: str, name: str, deposit: int, wasm: bool) -> None:
        exists = (user, name) in self.model.projects
        source: dict[str, Any] = (
            {"wasm_sha256": "ab" * 32} if wasm else {"code_source": {"repo": REPOS[1],
                                                                     "commit": "cd" * 20}}
        )  # fmt: skip
        method = "add_version" if exists else "create_project"
        before = self.ln.balance(user)
        result = self.call(user, method, {"name": name, **source}, deposit)
        if not result.success:
            assert "attach at least" in (result.failure or ""), result.failure
            assert self.ln.balance(user) == before
            return
        assert before - self.ln.balance(user) == int(result.json()["storage_deposit"])
        self.hold(user, before - self.ln.balance(user))
        self.model.projects.add((user, name))

    @rule(user=st.sampled_from(USERS), name=st.sampled_from(PROJECTS))
    def delete_project(self, user: str, name: str) -> None:
        before = self.ln.balance(user)
        result = self.call(user, "delete_project", {"name": name})
        if (user, name) not in self.model.projects:
            assert not result.success and "you have no project" in (result.failure or "")
            return
        assert result.success, result.failure
        self.hold(user, before - self.ln.balance(user))
        self.model.projects.discard((user, name))

    def key_of(self, index: int) -> Key | None:
        keys = sorted(self.model.keys.values(), key=lambda k: (k.owner, k.nonce))
        return keys[index % len(keys)] if keys else None

    @rule(user=st.sampled_from(USERS), token=st.sampled_from(KEY_TOKENS),
          deposit=st.sampled_from([0, 10**22, 10**22]))  # fmt: skip
    def create_payment_key(self, user: str, token: str, deposit: int) -> None:
        nonce = self.model.nonces.get(user, 0) + 1
        body = {"key_hash": hashlib.sha256(f"{user}:{nonce}".encode()).hexdigest(),
                "token_id": token}  # fmt: skip
        before = self.ln.balance(user)
        result = self.call(user, "create_payment_key", body, deposit)
        if not result.success:
            assert "attach at least" in (result.failure or ""), result.failure
            assert self.ln.balance(user) == before
            return
        assert result.json()["nonce"] == nonce
        self.model.nonces[user] = nonce
        self.hold(user, before - self.ln.balance(user))
        self.model.keys[(user, nonce)] = Key(user, nonce, token)

    @precondition(lambda self: self.model.keys)
    @rule(index=st.integers(0, 100), by_owner=st.sampled_from([True, True, True, False]),
          other_token=st.sampled_from([False, False, False, True]),
          value=st.integers(1, SUPPLY // 100),
          missing=st.sampled_from([False, False, True]))  # fmt: skip
    def top_up_key(self, index: int, by_owner: bool, other_token: bool, value: int,
                   missing: bool) -> None:  # fmt: skip
        """Mostly a top-up the key takes; otherwise one it must return whole."""
        key = self.key_of(index)
        assert key is not None
        sender = key.owner if by_owner else next(u for u in USERS if u != key.owner)
        token = key.token if key.token != "near" else TOKENS[0]
        if other_token:
            token = TOKENS[1] if token == TOKENS[0] else TOKENS[0]
        nonce = key.nonce + 1000 if missing else key.nonce
        if key.token == "near" and not other_token:
            before = self.ln.balance(sender)
            body = {"owner": key.owner, "nonce": nonce}
            result = self.call(sender, "top_up_payment_key", body, value)
            if by_owner and not missing:
                assert result.success, result.failure
                key.balance += value
            else:
                assert not result.success and self.ln.balance(sender) == before
            return
        msg = json.dumps({"action": "top_up_payment_key", "owner": key.owner, "nonce": nonce})
        args = {"receiver_id": OUTLAYER, "amount": str(value), "msg": msg}
        have = int(self.ln.view(token, "ft_balance_of", {"account_id": sender}))
        result = self.ln.call(sender, token, "ft_transfer_call", args, deposit=1)
        if have < value:
            assert not result.success
            return
        assert result.success, result.failure
        self.spend(sender, 1)
        taken = by_owner and not missing and token == key.token
        outcome(f"stablecoin top-up {'taken' if taken else 'returned'}")
        assert result.json() == (str(value) if taken else "0")  # what the token counts as used
        if taken:
            key.balance += value

    @precondition(lambda self: self.model.keys)
    @rule(index=st.integers(0, 100), by_owner=st.sampled_from([True, True, False]))
    def delete_payment_key(self, index: int, by_owner: bool) -> None:
        key = self.key_of(index)
        assert key is not None
        signer = key.owner if by_owner else next(u for u in USERS if u != key.owner)
        before = self.ln.balance(key.owner)
        body = {"owner": key.owner, "nonce": key.nonce}
        result = self.call(signer, "delete_payment_key", body)
        if not by_owner:
            assert not result.success and "only the owner" in (result.failure or "")
            return
        assert result.success, result.failure
        outcome(f"key deleted with {'a' if key.balance else 'no'} balance in {key.token}")
        answer = result.json()
        assert answer["refunded_balance"] == str(key.balance)
        refunded = self.ln.balance(key.owner) - before
        storage = int(answer["refunded_storage"])
        assert refunded == storage + (key.balance if key.token == "near" else 0)
        self.hold(key.owner, -storage)
        if key.token != "near" and key.balance:
            self.model.withdrawals += 1
        del self.model.keys[(key.owner, key.nonce)]

    @precondition(lambda self: self.model.keys)
    @rule(
        picks=st.lists(
            st.tuples(st.integers(0, 100), st.sampled_from(DEVS),
                      st.sampled_from([0, 1, 2, 2, 3, 4]), st.sampled_from([0, 0, 7])),
            min_size=1, max_size=4,
        ),
        gap=st.sampled_from([1, 1, 5]),
        replay=st.sampled_from([False, False, False, True]),
        by_operator=st.sampled_from([True, True, True, False]),
    )  # fmt: skip
    def settle_https_usage(self, picks: list[tuple[int, str, int, int]], gap: int,
                           replay: bool, by_operator: bool) -> None:  # fmt: skip
        """Entries of each key's balance in quarters (4/4 the whole, a fee past it refuses the
        batch); now and then a replay or a caller who is not the operator."""
        start = self.model.last_ledger_id + (0 if replay and self.model.last_ledger_id else gap)
        entries: list[dict[str, Any]] = []
        debits: dict[tuple[str, int], int] = {}
        keys: list[Key] = []
        amounts = []
        for i, (index, dev, quarters, fee) in enumerate(picks):
            key = self.key_of(index)
            assert key is not None
            value = key.balance * quarters // 4 // len(picks)
            amounts.append(value)
            keys.append(key)
            entries.append({"ledger_id": start + i, "key_owner": key.owner,
                            "key_nonce": key.nonce, "owner": dev, "project": "echo",
                            "amount": str(value), "fee": str(fee)})  # fmt: skip
            debits[(key.owner, key.nonce)] = debits.get((key.owner, key.nonce), 0) + value + fee
        signer = OWNER if by_operator else USERS[0]
        snapshot = dict(self.ln.chain.account(OUTLAYER).storage)
        result = self.call(signer, "settle_https_usage", {"entries": entries})
        ok = (
            by_operator
            and start > self.model.last_ledger_id
            and all(self.model.keys[k].balance >= v for k, v in debits.items())
        )
        outcome(f"settlement {'applied' if ok else 'refused'}")
        if not ok:
            assert not result.success
            assert dict(self.ln.chain.account(OUTLAYER).storage) == snapshot  # nothing moved
            return
        assert result.success, result.failure
        self.model.last_ledger_id = start + len(entries) - 1
        for (_, dev, _, fee), value, key in zip(picks, amounts, keys, strict=True):
            key.balance -= value + fee
            if key.token == "near":
                self.spend(key.owner, value + fee)
            for account, amount in ((dev, value), (OWNER, fee)):
                self.model.earnings[(account, key.token)] = (
                    self.model.earnings.get((account, key.token), 0) + amount
                )

    # Again, as for requests: a key must be made and funded before a settlement can move money.
    @precondition(lambda self: self.model.keys)
    @rule(index=st.integers(0, 100), value=st.integers(1, SUPPLY // 100))
    def another_top_up_key(self, index: int, value: int) -> None:
        self.top_up_key(index=index, by_owner=True, other_token=False, value=value, missing=False)

    @precondition(lambda self: self.model.keys)
    @rule(index=st.integers(0, 100), dev=st.sampled_from(DEVS), quarters=st.integers(0, 4))
    def another_settlement(self, index: int, dev: str, quarters: int) -> None:
        self.settle_https_usage(picks=[(index, dev, quarters, 0)], gap=1, replay=False,
                                by_operator=True)  # fmt: skip

    @precondition(lambda self: any(self.model.earnings.values()))
    @rule(index=st.integers(0, 100), whole=st.booleans())
    def another_withdraw(self, index: int, whole: bool) -> None:
        owed = sorted(k for k, v in self.model.earnings.items() if v)
        who, token = owed[index % len(owed)]
        self.withdraw(who=who, token=token, part=None if whole else 1)

    # --- invariants ---------------------------------------------------------------------------
    @invariant()
    def near_is_conserved_and_every_account_is_exact(self) -> None:
        if not hasattr(self, "ln"):
            return
        assert self.total_near() == self.near_total
        m = self.model
        escrow = sum(r.deposit for r in m.pending())
        held = sum(m.secrets_held.values()) + sum(m.storage_held.values())
        in_keys = sum(k.balance for k in m.keys.values() if k.token == "near")
        earned = sum(v for (_, token), v in m.earnings.items() if token == "near")
        contract = self.ln.balance(OUTLAYER)
        assert contract == (self.start[OUTLAYER] + escrow + held + in_keys + earned - m.withdrawals)
        assert self.ln.balance(OWNER) == (
            self.start[OWNER] + m.fees + m.near_received.get(OWNER, 0)
        )
        for dev in DEVS:
            assert self.ln.balance(dev) == self.start[dev] + m.near_received.get(dev, 0)
        for user in USERS:
            pending = sum(r.deposit for r in m.pending() if r.sender == user)
            keys = sum(k.balance for k in m.keys.values() if k.owner == user and k.token == "near")
            spent = m.near_spent.get(user, 0) + m.secrets_held.get(user, 0) + pending
            spent += m.storage_held.get(user, 0) + keys
            assert self.ln.balance(user) == self.start[user] - spent
        chain = self.ln.chain
        assert contract >= chain.storage_usage(chain.account(OUTLAYER)) * STORAGE_PRICE

    @invariant()
    def secrets_deposits_are_exactly_their_storage(self) -> None:
        if not hasattr(self, "ln"):
            return
        storage = self.ln.chain.account(OUTLAYER).storage
        for user in USERS:
            taken = sum(
                len(k) + len(v) + 40
                for k, v in storage.items()
                if k.startswith(f"sec:{user}|".encode()) or k == f"usec:{user}".encode()
            )
            assert taken * STORAGE_PRICE == self.model.secrets_held.get(user, 0)
            # Projects and payment keys: their owner paid for exactly the bytes they take.
            owned = (f"prj:{user}/", f"pv:{user}/", f"uprj:{user}", f"pk:{user}:", f"pkn:{user}")
            taken = sum(
                len(k) + len(v) + 40
                for k, v in storage.items()
                if k.startswith(tuple(p.encode() for p in owned))
                or (k.startswith(b"pkh:") and json.loads(v)[0] == user)
            )
            assert taken * STORAGE_PRICE == self.model.storage_held.get(user, 0)

    @invariant()
    def tokens_are_conserved_and_owed_exactly(self) -> None:
        if not hasattr(self, "ln"):
            return
        storage = self.ln.chain.account(OUTLAYER).storage
        for token in TOKENS:
            held = {
                a: int(self.ln.view(token, "ft_balance_of", {"account_id": a}))
                for a in (OUTLAYER, OWNER, *USERS, *DEVS)
            }
            assert sum(held.values()) == SUPPLY
            owed = 0
            for user in USERS:
                raw = storage.get(f"bal:{user}:{token}".encode())
                value = int(json.loads(raw)) if raw else 0
                assert value == self.model.balances.get((user, token), 0)
                owed += value
            for dev in (*DEVS, OWNER):  # the owner earns the operator's fees of HTTPS usage
                raw = storage.get(f"earn:{dev}".encode())
                value = int(json.loads(raw).get(token, "0")) if raw else 0
                assert value == self.model.earnings.get((dev, token), 0)
                owed += value
            owed += sum(r.usd for r in self.model.pending() if r.token == token)  # escrowed
            for key in self.model.keys.values():
                raw = storage[f"pk:{key.owner}:{key.nonce}".encode()]
                assert int(json.loads(raw)["balance"]) == key.balance
                owed += key.balance if key.token == token else 0
            assert held[OUTLAYER] == owed  # solvent in every token, to the unit

    @invariant()
    def every_request_is_settled_once(self) -> None:
        if not hasattr(self, "ln"):
            return
        storage = self.ln.chain.account(OUTLAYER).storage
        stats = json.loads(storage[b"stats"])
        assert stats["total_requests"] == len(self.model.requests)
        for how in ("completed", "failed", "timed_out", "cancelled"):
            assert stats[how] == self.model.settled.get(how, 0)
        assert int(stats["total_fees"]) == self.model.fees
        open_ids = {int(k[4:]) for k in storage if k.startswith(b"req:")}
        assert open_ids == {r.request_id for r in self.model.pending()}
        # Every output was delivered, or is one of a failed callback, freed after its grace.
        outputs = {int(k[4:]) for k in storage if k.startswith(b"out:")}
        assert outputs == set(self.model.stranded)


ContractMoney.TestCase.settings = settings.get_profile(PROFILE)
test_contract_money = ContractMoney.TestCase
