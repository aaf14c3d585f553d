"""Asynchronous calls: 202 at once with where to read the result; the result is read (and
paid) once, by the key that made the call; a retry with the nonce is the same call."""

from __future__ import annotations

from tests.edge.conftest import ADMIN, Stack


def test_an_async_call_answers_202_and_its_result_is_read_later(stack: Stack) -> None:
    key_id, secret = stack.key()
    before = int(stack.http.get(f"/payment-keys/{key_id}", headers=ADMIN).json()["balance"])
    body = {"input": "later", "async": True, "response_format": "RESPONSE_FORMAT_JSON"}
    accepted = stack.call(secret, body)
    assert accepted.status_code == 202, accepted.text
    answer = accepted.json()
    call_id = answer["call_id"]
    assert answer["status"] == "pending" and "result" not in answer
    assert answer["poll_url"] == f"/calls/{call_id}" == accepted.headers["location"]
    paid = {"X-Payment-Key": secret}
    done = stack.http.get(answer["poll_url"], params={"wait_seconds": 30}, headers=paid)
    assert done.status_code == 200, done.text
    result = done.json()
    assert result["status"] == "done" and result["result"]["output"]["input"] == "later"
    again = stack.http.get(answer["poll_url"], headers=paid).json()
    assert again["charged"] == result["charged"]  # settled once
    after = int(stack.http.get(f"/payment-keys/{key_id}", headers=ADMIN).json()["balance"])
    assert before - after == int(result["charged"]) > 0
    _, stranger = stack.key("mallory.near")  # someone else's key cannot read it
    hidden = stack.http.get(answer["poll_url"], headers={"X-Payment-Key": stranger})
    assert hidden.status_code == 404


def test_an_async_retry_with_its_nonce_is_the_same_call(stack: Stack) -> None:
    _, secret = stack.key()
    body = {"input": "once", "async": True, "nonce": "n-1"}
    first = stack.call(secret, body)
    second = stack.call(secret, body)
    assert first.status_code == 202
    assert second.json()["call_id"] == first.json()["call_id"]
    assert second.status_code in (200, 202)  # done by now, or still running
    finished = stack.http.get(first.json()["poll_url"], params={"wait_seconds": 30},
                              headers={"X-Payment-Key": secret}).json()  # fmt: skip
    assert finished["status"] == "done"


def test_async_must_be_a_boolean(stack: Stack) -> None:
    _, secret = stack.key()
    refused = stack.call(secret, {"input": "x", "async": "soon"})
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_argument"
