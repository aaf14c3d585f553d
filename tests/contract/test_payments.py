"""Stablecoin developer payments: deposit, attached_usd, refund_usd, earnings, withdrawal."""

from __future__ import annotations

from localnet.node import NEAR
from tests.conftest import built_contract
from tests.contract.conftest import ALICE, DEV, MILLION, OUTLAYER, TOKEN, Net, event, ft_balance


def deposit_usd(net: Net, value: int, msg: str = '{"action":"deposit_balance"}') -> None:
    args = {"receiver_id": OUTLAYER, "amount": str(value), "msg": msg}
    assert net.ln.call(ALICE, TOKEN, "ft_transfer_call", args, deposit=1).success


def test_deposit_balance_credits_the_sender(net: Net, token: str) -> None:
    deposit_usd(net, 50 * MILLION)
    assert net.view("get_user_balance", {"account_id": ALICE, "token_id": token}) == str(
        50 * MILLION
    )
    assert ft_balance(net, OUTLAYER) == 50 * MILLION
    assert ft_balance(net, ALICE) == 950 * MILLION


def test_transfers_not_meant_as_deposits_are_returned(net: Net, token: str) -> None:
    deposit_usd(net, 5 * MILLION, msg='{"action":"something_else"}')
    assert ft_balance(net, ALICE) == 1000 * MILLION
    assert net.view("get_user_balance", {"account_id": ALICE, "token_id": token}) == "0"


def test_tokens_that_are_not_whitelisted_are_returned(net: Net) -> None:
    net.ln.create_account(TOKEN, 10 * NEAR)
    assert net.ln.deploy(TOKEN, built_contract("test_token")).success
    assert net.ln.call(TOKEN, TOKEN, "new", {"owner_id": ALICE, "total_supply": "1000"}).success
    deposit_usd(net, 100)
    assert ft_balance(net, ALICE) == 1000
    assert net.view("get_user_balance", {"account_id": ALICE, "token_id": TOKEN}) == "0"


def test_attached_usd_becomes_earnings_minus_the_refund(net: Net, token: str) -> None:
    deposit_usd(net, 50 * MILLION)
    usd = {"attached_usd": str(10 * MILLION), "usd_token_id": token, "project_owner_id": DEV}
    request = net.request(usd)
    assert net.view("get_user_balance", {"account_id": ALICE, "token_id": token}) == str(
        40 * MILLION
    )
    request_id = event(request, "execution_requested")["request_id"]
    assert net.resolve(request_id, refund_usd=str(3 * MILLION)).success
    assert net.ln.result(request.tx_hash).json()["refund_usd"] == str(3 * MILLION)
    assert net.view("get_developer_earnings", {"account_id": DEV}) == {token: str(7 * MILLION)}
    assert net.view("get_user_balance", {"account_id": ALICE, "token_id": token}) == str(
        43 * MILLION
    )

    withdrawn = net.ln.call(DEV, OUTLAYER, "withdraw_developer_earnings", {"token_id": token})
    assert withdrawn.success, withdrawn.failure
    assert ft_balance(net, DEV) == 7 * MILLION
    assert net.view("get_developer_earnings", {"account_id": DEV}) == {}
    # Everything is accounted for: Alice's token balance, her OutLayer balance, the developer's.
    assert ft_balance(net, ALICE) + 43 * MILLION + 7 * MILLION == 1000 * MILLION


def test_refund_usd_is_capped_at_what_was_attached(net: Net, token: str) -> None:
    deposit_usd(net, 10 * MILLION)
    usd = {"attached_usd": str(2 * MILLION), "usd_token_id": token, "project_owner_id": DEV}
    request_id = event(net.request(usd), "execution_requested")["request_id"]
    assert net.resolve(request_id, refund_usd=str(99 * MILLION)).success
    assert net.view("get_user_balance", {"account_id": ALICE, "token_id": token}) == str(
        10 * MILLION
    )
    assert net.view("get_developer_earnings", {"account_id": DEV}) == {}


def test_failed_execution_returns_all_attached_usd(net: Net, token: str) -> None:
    deposit_usd(net, 10 * MILLION)
    usd = {"attached_usd": str(4 * MILLION), "usd_token_id": token, "project_owner_id": DEV}
    request_id = event(net.request(usd), "execution_requested")["request_id"]
    error = {"type": "runtime_error", "message": "trap"}
    assert net.resolve(request_id, success=False, error=error).success
    assert net.view("get_user_balance", {"account_id": ALICE, "token_id": token}) == str(
        10 * MILLION
    )
    assert net.view("get_developer_earnings", {"account_id": DEV}) == {}


def test_attached_usd_above_the_balance_is_refused(net: Net, token: str) -> None:
    deposit_usd(net, 1 * MILLION)
    usd = {"attached_usd": str(2 * MILLION), "usd_token_id": token, "project_owner_id": DEV}
    result = net.request(usd)
    assert not result.success and "exceeds your balance" in (result.failure or "")
    assert net.view("get_user_balance", {"account_id": ALICE, "token_id": token}) == str(MILLION)


def test_failed_withdrawal_restores_the_earnings(net: Net, token: str) -> None:
    deposit_usd(net, 10 * MILLION)
    usd = {"attached_usd": str(5 * MILLION), "usd_token_id": token, "project_owner_id": DEV}
    request_id = event(net.request(usd), "execution_requested")["request_id"]
    assert net.resolve(request_id).success
    assert net.ln.call(ALICE, TOKEN, "freeze", {"account_id": DEV}).success  # Alice owns the token
    withdrawn = net.ln.call(DEV, OUTLAYER, "withdraw_developer_earnings", {"token_id": token})
    assert withdrawn.json() is False  # on_withdraw reports the failed transfer
    assert net.view("get_developer_earnings", {"account_id": DEV}) == {token: str(5 * MILLION)}
    assert ft_balance(net, DEV) == 0
    nothing = net.ln.call(ALICE, OUTLAYER, "withdraw_developer_earnings", {"token_id": token})
    assert not nothing.success and "no earnings" in (nothing.failure or "")
