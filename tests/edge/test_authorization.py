"""Reads are authorized: a call's result only to the key that made it, a key of the project's
owner, or the operator; a payment key only to itself; earnings history only to the owner.
Someone else's call or key looks exactly like one that does not exist."""

from __future__ import annotations

from typing import Any

from tests.edge.conftest import ADMIN, USDC, Stack


def paid(secret: str) -> dict[str, str]:
    return {"X-Payment-Key": secret}


def made_call(stack: Stack, secret: str) -> dict[str, Any]:
    response = stack.http.post("/call/dev.near/echo", json={"input": "private input"},
                               headers={**paid(secret), "X-Attached-Deposit": "7"})  # fmt: skip
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert "private input" in str(body["result"]["output"])
    return body


def test_a_call_is_read_by_its_key_the_project_owner_and_the_operator(stack: Stack) -> None:
    _, alice = stack.key("alice.near")
    _, owner = stack.key("dev.near")  # the project's owner, with a key of their own
    call_id = made_call(stack, alice)["call_id"]
    for headers in (paid(alice), paid(owner), ADMIN):
        again = stack.http.get(f"/calls/{call_id}", headers=headers)
        assert again.status_code == 200, again.text
        assert "private input" in str(again.json()["result"]["output"])


def test_a_call_is_hidden_from_others(stack: Stack) -> None:
    _, alice = stack.key("alice.near")
    _, mallory = stack.key("mallory.near")
    call_id = made_call(stack, alice)["call_id"]
    anonymous = stack.http.get(f"/calls/{call_id}")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "unauthenticated"
    other = stack.http.get(f"/calls/{call_id}", headers=paid(mallory))
    unknown = stack.http.get("/calls/0123456789abcdef", headers=paid(mallory))
    assert other.status_code == unknown.status_code == 404
    assert other.json()["code"] == unknown.json()["code"] == "not_found"
    assert "private input" not in other.text
    wrong_key = stack.http.get(f"/calls/{call_id}", headers=paid("olk_forged"))
    assert wrong_key.status_code == 401
    wrong_admin = stack.http.get(f"/calls/{call_id}", headers={"X-Admin-Token": "guess"})
    assert wrong_admin.status_code == 401


def test_a_payment_key_is_read_only_with_itself_or_by_the_operator(stack: Stack) -> None:
    alice_id, alice = stack.key("alice.near", balance=1000)
    mallory_id, mallory = stack.key("mallory.near")
    own = stack.http.get(f"/payment-keys/{alice_id}", headers=paid(alice))
    assert own.status_code == 200
    assert own.json() == {"key_id": alice_id, "owner": "alice.near", "balance": "1000",
                          "token_id": USDC, "nonce": "0", "secret": ""}  # fmt: skip
    assert stack.http.get(f"/payment-keys/{alice_id}", headers=ADMIN).status_code == 200
    anonymous = stack.http.get(f"/payment-keys/{alice_id}")
    assert anonymous.status_code == 401
    other = stack.http.get(f"/payment-keys/{alice_id}", headers=paid(mallory))
    assert other.status_code == 404 and "alice" not in other.text
    assert stack.http.get(f"/payment-keys/{mallory_id}", headers=paid(mallory)).status_code == 200


def test_earnings_show_the_total_to_anyone_and_the_history_to_the_owner(stack: Stack) -> None:
    _, alice = stack.key("alice.near")
    _, owner = stack.key("dev.near")
    call_id = made_call(stack, alice)["call_id"]
    for headers in ({}, paid(alice)):  # no key, or someone else's: the aggregate only
        public = stack.http.get("/earnings/dev.near", headers=headers)
        assert public.status_code == 200
        assert public.json() == {
            "owner": "dev.near", "totals": [{"token_id": USDC, "amount": "7"}], "history": []
        }  # fmt: skip
        assert call_id not in public.text
    for headers in (paid(owner), ADMIN):
        history = stack.http.get("/earnings/dev.near", headers=headers).json()
        assert [entry["call_id"] for entry in history["history"]] == [call_id]
    forged = stack.http.get("/earnings/dev.near", headers=paid("olk_forged"))
    assert forged.status_code == 401


def test_public_endpoints_never_show_inputs_or_outputs(stack: Stack) -> None:
    _, alice = stack.key("alice.near")
    made_call(stack, alice)
    for path in ("/projects/dev.near/echo", "/earnings/dev.near", "/openapi.json"):
        response = stack.http.get(path)
        assert response.status_code == 200
        assert "private input" not in response.text
