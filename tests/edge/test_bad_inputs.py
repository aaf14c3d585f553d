"""Input that used to reach a server error (or spin, or drop the connection) is a 400 JSON with
a clear message; none of it costs anything."""

from __future__ import annotations

import pytest

from tests.edge.conftest import ADMIN, Stack, read_response

NEAR = 10**24


def balance(stack: Stack, key_id: str) -> int:
    answer = stack.http.get(f"/payment-keys/{key_id}", headers=ADMIN)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["balance"])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"wait_seconds": "NaN"}, "wait_seconds must be a number of seconds from 0 to 60"),
        ({"wait_seconds": "Infinity"}, "wait_seconds"),
        ({"wait_seconds": "-Infinity"}, "wait_seconds"),
        ({"wait_seconds": -1}, "got -1"),
        ({"response_format": 999}, "response_format 999 is not one of"),
        ({"response_format": -3}, "is not one of"),
        ({"version": 2**40}, "does not fit CallRequest"),
        ({"limits": {"max_instructions": "1" * 5000}}, "does not fit CallRequest"),
    ],
)
def test_bad_call_fields_are_400(stack: Stack, body: dict[str, object], message: str) -> None:
    key_id, secret = stack.key(balance=NEAR)
    response = stack.call(secret, {"input": "x", **body})
    assert response.status_code == 400, response.text
    assert response.json()["code"] in ("invalid_argument", "limit_exceeded")
    assert message in response.json()["message"]
    assert balance(stack, key_id) == NEAR


def test_a_large_wait_is_clamped_to_the_cap(stack: Stack) -> None:
    _, secret = stack.key()
    response = stack.call(secret, {"input": "x", "wait_seconds": 1e300})
    assert response.status_code == 200 and response.json()["status"] == "done"


@pytest.mark.parametrize("deposit", ["1" * 5000, "1" * 1000, "12a", "-5", "1.5", "1" * 40])
def test_a_bad_attached_deposit_is_400(stack: Stack, deposit: str) -> None:
    key_id, secret = stack.key(balance=NEAR)
    headers = {"X-Payment-Key": secret, "X-Attached-Deposit": deposit}
    response = stack.http.post("/call/dev.near/echo", json={"input": "x"}, headers=headers)
    assert response.status_code == 400, response.text
    message = response.json()["message"]
    assert "X-Attached-Deposit must be a whole number of the stablecoin" in message or (
        len(deposit) > 1024 and "X-Attached-Deposit is over 1024 bytes" in message
    )
    assert balance(stack, key_id) == NEAR


def test_a_lone_surrogate_in_a_string_is_400(stack: Stack) -> None:
    _, secret = stack.key()
    response = stack.http.post("/call/dev.near/echo", content=b'{"input": "\\ud800"}',
                               headers={"X-Payment-Key": secret})  # fmt: skip
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_argument"


@pytest.mark.parametrize("value", [b"olk_\xc3\xa9", b"olk_\x01x", b"olk_\x7f", b"\xff" * 3])
@pytest.mark.parametrize("header", [b"X-Payment-Key", b"X-Attached-Deposit", b"X-Admin-Token"])
def test_non_ascii_or_control_bytes_in_a_forwarded_header_are_400(
    stack: Stack, header: bytes, value: bytes
) -> None:
    sock = stack.raw()
    body = b'{"input": "x"}'
    head = b"POST /call/dev.near/echo HTTP/1.1\r\nHost: edge\r\n" + header + b": " + value
    sock.sendall(head + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    status, _, answer = read_response(sock)
    assert status == 400, answer
    assert answer["code"] == "invalid_header"
    assert header.decode() in answer["message"]


def test_an_oversized_forwarded_header_is_400(stack: Stack) -> None:
    response = stack.http.get("/calls/x", headers={"X-Payment-Key": "k" * 5000})
    assert response.status_code == 400 and response.json()["code"] == "invalid_header"


@pytest.mark.parametrize("balance_text", ["²", "٣", "1" * 5000, "", "-1", "1e3"])
def test_a_balance_must_be_ascii_digits(stack: Stack, balance_text: str) -> None:
    response = stack.http.post("/payment-keys", json={"owner": "a", "balance": balance_text},
                               headers=ADMIN)  # fmt: skip
    assert response.status_code == 400, response.text
    assert "ASCII digits" in response.json()["message"]


@pytest.mark.parametrize(
    "content",
    [b"[" * 100_000 + b"]" * 100_000,
     b'{"input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
     b'{"limits": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_001],
)  # fmt: skip
def test_json_nested_deep_is_a_400_and_the_connection_lives(stack: Stack, content: bytes) -> None:
    _, secret = stack.key()
    response = stack.http.post("/call/dev.near/echo", content=content,
                               headers={"X-Payment-Key": secret})  # fmt: skip
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_json"
    assert "nested too deeply" in response.json()["message"]
    assert stack.http.get("/healthz").status_code == 200  # same client, still served


def test_an_unknown_query_parameter_is_400(stack: Stack) -> None:
    response = stack.http.get("/projects/dev.near/echo", params={"colour": "blue"})
    assert response.status_code == 400
    assert "unknown query parameter 'colour'" in response.json()["message"]


def test_a_path_that_is_not_ascii_is_a_json_400(stack: Stack) -> None:
    sock = stack.raw()
    sock.sendall(b"GET /calls/\xff\xfe HTTP/1.1\r\nHost: edge\r\n\r\n")
    status, _, answer = read_response(sock)
    assert status == 400 and answer["code"] == "bad_request"


@pytest.mark.parametrize("path", ["/call/dev.near/" + "a" * 5000, "/call/" + "o" * 300 + "/echo"])
def test_a_path_variable_over_the_cap_is_400_and_charges_nothing(stack: Stack, path: str) -> None:
    key_id, secret = stack.key(balance=NEAR)
    response = stack.http.post(path, json={"input": "x"}, headers={"X-Payment-Key": secret})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "invalid_argument"
    assert "in the path is over 256 characters" in response.json()["message"]
    assert balance(stack, key_id) == NEAR


def test_a_long_project_name_under_the_cap_is_a_plain_404(stack: Stack) -> None:
    response = stack.http.get("/public/projects/dev.near/" + "a" * 250)
    assert response.status_code == 404, response.text
    assert len(response.text) < 2000
