"""The example client contract: a full round trip through OutLayer, as a dApp would use it."""

from __future__ import annotations

from tests.conftest import built_contract
from tests.contract.conftest import ALICE, CLIENT, OUTLAYER, SMALL, SOURCE, Net, event


def test_client_contract_gets_the_output_in_its_callback(net: Net) -> None:
    net.ln.create_account(CLIENT)
    assert net.ln.deploy(CLIENT, built_contract("client_example")).success
    assert net.ln.call(CLIENT, CLIENT, "new", {"outlayer_id": OUTLAYER}).success
    run = net.ln.call(
        ALICE,
        CLIENT,
        "run",
        {"code_source": SOURCE, "input_data": "2+2", "resource_limits": SMALL},
        deposit=net.cost() * 2,
    )
    assert not run.final
    requested = event(run, "execution_requested")
    assert requested["sender_id"] == CLIENT  # the client contract is the caller
    assert net.resolve(requested["request_id"], output="4").success
    final = net.ln.result(run.tx_hash)
    assert final.final and final.json()["output"] == "4"
    assert net.ln.view(CLIENT, "get_last_result")["output"] == "4"


def test_client_contract_callback_sees_a_refusal(net: Net) -> None:
    net.ln.create_account(CLIENT)
    assert net.ln.deploy(CLIENT, built_contract("client_example")).success
    assert net.ln.call(CLIENT, CLIENT, "new", {"outlayer_id": OUTLAYER}).success
    before = net.ln.balance(ALICE) + net.ln.balance(CLIENT)
    run = net.ln.call(ALICE, CLIENT, "run", {"code_source": SOURCE}, deposit=1)  # far too little
    assert run.final
    assert run.json()["error"]["type"] == "request_failed"
    assert net.ln.balance(ALICE) + net.ln.balance(CLIENT) == before  # the deposit came back
