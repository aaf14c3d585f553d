"""A localnet with the compiled OutLayer contract deployed, a worker, a token and users."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from localnet.node import NEAR, Localnet, TxResult
from tests.conftest import built_contract

OUTLAYER = "outlayer.test"
OWNER = "owner.test"
WORKER = "worker.test"
ALICE = "alice.test"
BOB = "bob.test"
DEV = "dev.test"
TOKEN = "usdc.test"
CLIENT = "client.test"
SOURCE = {"repo": "https://github.com/alice/hello", "commit": "ab" * 20}
SMALL = {"max_instructions": 1_000_000, "max_execution_seconds": 5}
STORAGE_PRICE = 10**19
STAKE = 2048 * STORAGE_PRICE  # the storage stake of a request with a short input (refunded)
MILLION = 10**6  # a stablecoin with 6 decimals: 1 USD


@dataclass
class Net:
    ln: Localnet

    def call(self, signer: str, method: str, args: Any = None, deposit: int = 0) -> TxResult:
        return self.ln.call(signer, OUTLAYER, method, args, deposit=deposit)

    def view(self, method: str, args: Any = None) -> Any:
        return self.ln.view(OUTLAYER, method, args)

    def cost(self, limits: dict[str, int] = SMALL) -> int:
        return int(self.view("estimate_execution_cost", {"resource_limits": limits}))

    def limits_cost(self, limits: dict[str, int] = SMALL) -> int:
        """What the limits cost at today's prices (the most a request with them is charged)."""
        return self.cost(limits) - STAKE

    def request(
        self,
        extra: dict[str, Any] | None = None,
        *,
        signer: str = ALICE,
        deposit: int | None = None,
    ) -> TxResult:
        body = {
            "code_source": SOURCE,
            "resource_limits": SMALL,
            "input_data": "hi",
            **(extra or {}),
        }
        return self.call(
            signer, "request_execution", body, self.cost() if deposit is None else deposit
        )

    def resolve(self, request_id: int, signer: str = WORKER, **fields: Any) -> TxResult:
        body = {"request_id": request_id, "success": True, "output": "ok",
                "resources_used": {"instructions": 1000, "time_ms": 3}, **fields}  # fmt: skip
        return self.call(signer, "resolve_execution", body)

    def storage_keys(self, prefix: bytes) -> list[bytes]:
        storage = self.ln.chain.account(OUTLAYER).storage
        return [k for k in storage if k.startswith(prefix)]


def event(result: TxResult, name: str) -> dict[str, Any]:
    for log in result.logs:
        if log.startswith("EVENT_JSON:"):
            body = json.loads(log[len("EVENT_JSON:") :])
            if body["event"] == name:
                assert body["standard"] == "outlayer" and body["version"] == "1.0.0"
                data: dict[str, Any] = body["data"][0]
                return data
    raise AssertionError(f"no {name} event in {result.logs}")


@pytest.fixture(scope="session")
def outlayer_wasm() -> bytes:
    return built_contract("outlayer")


@pytest.fixture
def net(outlayer_wasm: bytes) -> Net:
    ln = Localnet()
    for account in (OUTLAYER, OWNER, WORKER, ALICE, BOB, DEV):
        ln.create_account(account, 1000 * NEAR)
    assert ln.deploy(OUTLAYER, outlayer_wasm).success
    assert ln.call(OWNER, OUTLAYER, "new", {"owner_id": OWNER}).success
    assert ln.call(OWNER, OUTLAYER, "add_worker", {"account_id": WORKER}).success
    return Net(ln)


@pytest.fixture
def token(net: Net) -> str:
    """A whitelisted test stablecoin (6 decimals); Alice holds its 1,000 USD supply."""
    ln = net.ln
    ln.create_account(TOKEN, 10 * NEAR)
    assert ln.deploy(TOKEN, built_contract("test_token")).success
    assert ln.call(
        TOKEN, TOKEN, "new", {"owner_id": ALICE, "total_supply": str(1000 * MILLION)}
    ).success
    assert net.call(OWNER, "add_token", {"token_id": TOKEN}).success
    return TOKEN


def ft_balance(net: Net, account: str) -> int:
    return int(net.ln.view(TOKEN, "ft_balance_of", {"account_id": account}))
