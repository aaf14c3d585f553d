"""Runtime rules of localnet: gas, views, storage staking, refunds, access to host functions."""

from __future__ import annotations

import gc
import subprocess
import sys
import time
from pathlib import Path

import wasmtime

from localnet.node import NEAR, Localnet
from tests.conftest import built_contract

TOKEN = "token.test"


def token_chain(balance: int = 100 * NEAR) -> Localnet:
    ln = Localnet()
    ln.create_account(TOKEN, balance)
    ln.create_account("alice.test")
    assert ln.deploy(TOKEN, built_contract("test_token")).success
    assert ln.call(TOKEN, TOKEN, "new", {"owner_id": "alice.test", "total_supply": "100"}).success
    return ln


def test_calls_report_gas_and_instructions() -> None:
    ln = token_chain()
    result = ln.call("alice.test", TOKEN, "ft_transfer", {"receiver_id": TOKEN, "amount": "5"},
                     deposit=1)  # fmt: skip
    assert result.success
    outcome = result.outcomes[0]
    assert outcome.instructions > 10_000
    # wasm instructions at NEAR's per-op cost, plus host-function costs (storage writes, ...)
    assert outcome.gas_burnt > outcome.instructions * 822_756


def test_too_little_gas_fails_and_refunds_the_deposit() -> None:
    ln = token_chain()
    before = ln.balance("alice.test")
    result = ln.call("alice.test", TOKEN, "ft_transfer", {"receiver_id": TOKEN, "amount": "5"},
                     deposit=1, gas=10**9)  # fmt: skip
    assert not result.success and "GasExceeded" in (result.failure or "")
    assert ln.balance("alice.test") == before
    assert ln.view(TOKEN, "ft_balance_of", {"account_id": "alice.test"}) == "100"


def test_views_cannot_change_state() -> None:
    ln = token_chain()
    try:
        ln.view(TOKEN, "ft_transfer", {"receiver_id": TOKEN, "amount": "5"})
    except Exception as exc:
        assert "ProhibitedInView" in str(exc)
    else:
        raise AssertionError("a view call changed state")


def test_storage_must_be_staked() -> None:
    ln = Localnet()
    ln.create_account("poor.test", NEAR)  # 1 NEAR stakes 100 kB; the contract is ~380 kB
    result = ln.deploy("poor.test", built_contract("test_token"))
    assert not result.success and "LackBalanceForState" in (result.failure or "")
    assert ln.chain.account("poor.test").code == b""


def test_unknown_method_and_missing_contract_fail_cleanly() -> None:
    ln = token_chain()
    result = ln.call("alice.test", TOKEN, "no_such_method")
    assert not result.success and "MethodNotFound" in (result.failure or "")
    result = ln.call("alice.test", "alice.test", "anything", deposit=5)
    assert not result.success and "CodeDoesNotExist" in (result.failure or "")


def test_each_call_frees_its_wasmtime_store() -> None:
    """wasmtime-py keeps a store's host functions in a global table until the store is deleted;
    a call that kept its store alive leaked its instance and memory (~4 MB a call)."""
    ln = token_chain()
    ln.view(TOKEN, "ft_balance_of", {"account_id": "alice.test"})
    gc.collect()
    before = sum(isinstance(o, wasmtime.Store) for o in gc.get_objects())
    for _ in range(20):
        ln.view(TOKEN, "ft_balance_of", {"account_id": "alice.test"})
        assert ln.call("alice.test", TOKEN, "ft_transfer",
                       {"receiver_id": TOKEN, "amount": "1"}, deposit=1).success  # fmt: skip
    gc.collect()
    after = sum(isinstance(o, wasmtime.Store) for o in gc.get_objects())
    assert after <= before


def test_a_wall_clock_chain_stamps_blocks_with_it_and_never_goes_back() -> None:
    """`localnet serve` runs on the wall clock, as NEAR does (a key's expiry means the time it
    says); tests keep the deterministic clock, one second a block."""
    from localnet.chain import Chain

    now = [5_000 * 10**9]
    chain = Chain(clock=lambda: now[0])
    assert chain.head.timestamp_ns == 5_000 * 10**9
    now[0] += 250_000_000
    assert chain.produce_block().timestamp_ns == 5_000 * 10**9 + 250_000_000
    now[0] -= 10**9  # the machine's clock stepped back: the chain does not
    assert chain.produce_block().timestamp_ns == 5_000 * 10**9 + 250_000_001
    deterministic = Chain(genesis_time_ns=10**9)
    assert deterministic.produce_block().timestamp_ns == 2 * 10**9


def test_localnet_serve_runs_on_this_machines_clock(tmp_path: Path) -> None:
    from devtools.ports import free_port
    from outlayer.near.rpc import NearRpc

    port = free_port()
    served = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "localnet", "serve", "--listen", f"127.0.0.1:{port}",
         "--state-dir", str(tmp_path), "--block-time", "0.1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        rpc = NearRpc(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 60
        while True:
            try:
                block = rpc.call("block", {"finality": "final"})
                break
            except Exception:  # not listening yet
                assert served.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        stamped = int(block["header"]["timestamp_nanosec"]) / 1e9
        assert abs(stamped - time.time()) < 30, stamped
    finally:
        served.terminate()
        served.wait(timeout=30)
