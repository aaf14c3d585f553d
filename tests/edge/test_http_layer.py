"""The edge's HTTP layer under hostile clients: no client stops the others, every deadline and
cap answers (or closes) as documented, and every error is a JSON body with a stable code."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from outlayer.config import Settings
from services.executor import Executor
from tests.edge.conftest import ADMIN, Stack, closed_by_peer, edge_stack, read_response


def a_call_succeeds(stack: Stack, secret: str, text: str = "still served") -> None:
    response = stack.call(secret, {"input": text, "response_format": "RESPONSE_FORMAT_JSON"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "done" and body["result"]["output"]["input"] == text


@pytest.fixture
def tls_stack(settings: Settings, executor: Executor, tmp_path: Path) -> Iterator[Stack]:
    with edge_stack(settings, executor, tmp_path, tls=True) as running:
        yield running


def test_a_silent_connection_does_not_stop_other_clients_and_is_closed(stack: Stack) -> None:
    _, secret = stack.key()
    silent = stack.raw()  # connected, never sends a byte
    a_call_succeeds(stack, secret)
    assert closed_by_peer(silent)  # after the header deadline (1 s here)


def test_a_stalled_tls_hello_does_not_stop_other_clients(tls_stack: Stack) -> None:
    _, secret = tls_stack.key()
    stalled = socket.create_connection(("127.0.0.1", tls_stack.port), timeout=15)
    stalled.sendall(b"\x16\x03\x01\x00\xc8\x01\x00")  # the first bytes of a ClientHello
    idle_tls = socket.create_connection(("127.0.0.1", tls_stack.port), timeout=15)
    a_call_succeeds(tls_stack, secret)
    assert closed_by_peer(stalled)  # the handshake deadline (1 s here)
    assert closed_by_peer(idle_tls)


def test_a_hundred_unfinished_requests_do_not_stop_a_call_and_each_gets_an_answer(
    stack: Stack,
) -> None:
    _, secret = stack.key()
    headers_only: list[socket.socket] = []
    bodies_short: list[socket.socket] = []
    for n in range(100):
        sock = stack.raw()
        if n % 2:
            sock.sendall(b"POST /call/dev.near/echo HTTP/1.1\r\nHost: edge\r\nX-Pay")
            headers_only.append(sock)
        else:
            sock.sendall(b"POST /call/dev.near/echo HTTP/1.1\r\nHost: edge\r\n"
                         b"Content-Length: 100\r\n\r\n{\"input\"")  # fmt: skip
            bodies_short.append(sock)
    a_call_succeeds(stack, secret)
    for sock in headers_only:
        status, _, body = read_response(sock)
        assert status == 408 and body["code"] == "request_timeout"
        assert closed_by_peer(sock)
    for sock in bodies_short:
        status, _, body = read_response(sock)
        assert status == 400 and body["code"] == "incomplete_body"
        assert "of the 100 bytes Content-Length promised" in body["message"]


@pytest.mark.parametrize("length", [b"-1", b"abc", b"1" * 5000, b"5, 6"])
def test_a_malformed_content_length_is_a_json_400(stack: Stack, length: bytes) -> None:
    sock = stack.raw()
    sock.sendall(b"POST /call/dev.near/echo HTTP/1.1\r\nHost: edge\r\nContent-Length: " + length
                 + b"\r\n\r\n{}")  # fmt: skip
    status, headers, body = read_response(sock)
    assert status == 400 and body["code"] == "bad_request"
    assert headers["content-type"] == "application/json"


def test_a_chunked_body_is_read_whole(stack: Stack) -> None:
    _, secret = stack.key()
    text = "x" * 70000

    def chunks() -> Iterator[bytes]:
        payload = ('{"response_format": "RESPONSE_FORMAT_JSON", "input": "' + text + '"}').encode()
        for offset in range(0, len(payload), 4096):
            yield payload[offset : offset + 4096]

    response = stack.http.post("/call/dev.near/echo", content=chunks(),
                               headers={"X-Payment-Key": secret})  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["result"]["output"]["input_bytes"] == len(text)


def test_a_body_over_the_cap_is_refused(settings: Settings, executor: Executor,
                                        tmp_path: Path) -> None:  # fmt: skip
    with edge_stack(settings, executor, tmp_path, max_body_bytes=4096) as stack:
        _, secret = stack.key()
        big = {"input": "y" * 5000}
        declared = stack.call(secret, big)
        assert declared.status_code == 413 and declared.json()["code"] == "too_large"

        def chunks() -> Iterator[bytes]:
            yield b'{"input": "'
            for _ in range(10):
                yield b"z" * 1000
            yield b'"}'

        chunked = stack.http.post("/call/dev.near/echo", content=chunks(),
                                  headers={"X-Payment-Key": secret})  # fmt: skip
        assert chunked.status_code == 413 and chunked.json()["code"] == "too_large"
        a_call_succeeds(stack, secret)

        def endless() -> Iterator[bytes]:  # far past what the edge reads on before closing
            yield b'{"input": "'
            for _ in range(4096):
                yield b"z" * 1024

        try:
            flood = stack.http.post("/call/dev.near/echo", content=endless(),
                                    headers={"X-Payment-Key": secret})  # fmt: skip
            assert flood.status_code == 413
        except httpx.TransportError:
            pass  # closed on it mid-send: the edge stopped reading, as it should
        a_call_succeeds(stack, secret)


def test_keep_alive_serves_several_requests_on_one_connection(stack: Stack) -> None:
    sock = stack.raw()
    for _ in range(3):
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: edge\r\n\r\n")
        status, headers, body = read_response(sock)
        assert status == 200 and body == {"status": "ok"}
        assert headers.get("connection", "keep-alive") != "close"


def test_requests_beyond_the_concurrency_cap_get_503_with_retry_after(
    settings: Settings, executor: Executor, tmp_path: Path
) -> None:
    with edge_stack(settings, executor, tmp_path, max_concurrent_requests=2,
                    body_timeout_seconds=30) as stack:  # fmt: skip
        holders = []
        for _ in range(2):  # two requests in progress: waiting for their bodies
            sock = stack.raw()
            sock.sendall(b"POST /projects HTTP/1.1\r\nHost: edge\r\nContent-Length: 10\r\n\r\n")
            holders.append(sock)
        deadline = time.monotonic() + 10
        busy = stack.http.get("/healthz")
        while busy.status_code == 200 and time.monotonic() < deadline:
            busy = stack.http.get("/healthz")  # until both holders reached the application
        assert busy.status_code == 503, busy.text
        assert busy.json()["code"] == "overloaded"
        assert busy.headers["retry-after"] == "1"
        for sock in holders:
            sock.close()
        deadline = time.monotonic() + 10
        while stack.http.get("/healthz").status_code != 200:
            assert time.monotonic() < deadline, "the cap was never released"


@pytest.mark.parametrize("verb", ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PROPFIND"])
def test_wrong_methods_are_a_json_405(stack: Stack, verb: str) -> None:
    response = stack.http.request(verb, "/call/dev.near/echo")
    assert response.status_code == 405, response.text
    assert response.json()["code"] == "method_not_allowed"
    assert response.headers["allow"] == "POST"
    assert f"{verb} is not served on /call/dev.near/echo; use POST" in response.json()["message"]


def test_an_unknown_method_on_an_unknown_path_is_a_json_404(stack: Stack) -> None:
    response = stack.http.request("TRACE", "/nowhere")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_probes_may_use_head_on_healthz(stack: Stack) -> None:
    head = stack.http.head("/healthz")
    assert head.status_code == 200 and head.content == b""
    assert stack.http.post("/healthz").headers["allow"] == "GET, HEAD"


def test_head_is_a_405_and_unknown_paths_a_json_404(stack: Stack) -> None:
    head = stack.http.head("/calls/abc")
    assert head.status_code == 405 and head.headers["allow"] == "GET"
    missing = stack.http.put("/nowhere")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


def test_two_hundred_concurrent_clients_are_all_answered(stack: Stack) -> None:
    """Many clients at once, each on its own connection: every one gets its answer."""
    answers: list[int] = []

    def ask() -> None:
        with httpx.Client(base_url=stack.base, timeout=30) as own:
            answers.append(own.get("/projects/dev.near/echo").status_code)

    threads = [threading.Thread(target=ask) for _ in range(200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 200


def test_bad_requests_never_reach_the_admin_token_check(stack: Stack) -> None:
    """A JSON body that is not an object, or not JSON, is refused by the edge itself."""
    for content in (b"[1, 2]", b"{nope", b"\xff\xfe\x00"):
        response = stack.http.post("/projects", content=content, headers=ADMIN)
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "invalid_json"


def test_a_port_in_use_is_a_clear_error(stack: Stack) -> None:
    from outlayer.errors import OutlayerError
    from services.edge.server import Edge, make_server

    with pytest.raises(OutlayerError, match=f"cannot listen on 127.0.0.1:{stack.port}"):
        make_server(Edge("127.0.0.1:1"), "127.0.0.1", stack.port, None)


def test_the_edge_s_connections_send_without_delay() -> None:
    import asyncio
    import socket

    from services.edge.server import send_without_delay

    async def accepted_nodelay() -> int:
        seen: list[int] = []

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                sock = transport.get_extra_info("socket")
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)  # as if unset
                send_without_delay(transport)
                seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Probe, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        while not seen:
            await asyncio.sleep(0.01)
        writer.close()
        server.close()
        return seen[0]

    assert asyncio.run(accepted_nodelay()) != 0


def test_a_request_the_loop_has_not_read_yet_is_not_taken_for_a_silent_client() -> None:
    """What the header deadline asks before it closes a connection as silent: whether bytes the
    loop has not read yet are waiting. A silent client's socket holds none, a sender's does,
    and peeking consumes nothing."""
    import asyncio

    from services.edge.server import unread_bytes_waiting

    async def peeked() -> tuple[list[bool], bytes]:
        transports: list[asyncio.Transport] = []
        received: list[bytes] = []

        class Busy(asyncio.Protocol):  # reads nothing until told to: a loop behind on its work
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                assert isinstance(transport, asyncio.Transport)
                transport.pause_reading()
                transports.append(transport)

            def data_received(self, data: bytes) -> None:
                received.append(data)

        server = await asyncio.get_running_loop().create_server(Busy, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, silent = await asyncio.open_connection("127.0.0.1", port)
        _, sending = await asyncio.open_connection("127.0.0.1", port)
        sending.write(b"GET / HTTP/1.1\r\n\r\n")
        await sending.drain()
        while len(transports) < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # the bytes are in the server's socket, unread
        waiting = [unread_bytes_waiting(t) for t in transports]
        for transport in transports:
            transport.resume_reading()
        while not received:
            await asyncio.sleep(0.01)
        for writer in (silent, sending):
            writer.close()
        server.close()
        return sorted(waiting), b"".join(received)  # accepted in either order

    waiting, data = asyncio.run(peeked())
    assert waiting == [False, True]  # the silent client's socket holds nothing, the sender's
    assert data == b"GET / HTTP/1.1\r\n\r\n"  # peeking consumed nothing


def test_an_answer_carries_its_own_fields_at_their_zero_values() -> None:
    """A quiet platform's stats still say 0 finished in the last minute; a key with no cap, no
    expiry and not deleted says so; rows inside a list leave out what does not apply."""
    from outlayer.v1 import public_pb2
    from services.edge.server import _render

    stats = _render(public_pb2.Stats(jobs_done=3))
    assert stats["finished_last_minute"] == "0" and stats["recent_capped"] is False
    assert stats["jobs_done"] == "3"
    balance = _render(public_pb2.PaymentKeyBalance(balance="5"))
    assert balance["deleted"] is False and balance["max_per_call"] == ""
    assert balance["expires_at_ns"] == "0" and balance["allowed_projects"] == []
    listing = _render(public_pb2.ListExecutionsResponse(
        executions=[public_pb2.Execution(call_id="c1")]))  # fmt: skip
    assert listing["next_cursor"] == "" and listing["executions"] == [{"call_id": "c1"}]
    # Each answer gets its own lists: changing one changes no other.
    balance["allowed_projects"].append("x")
    assert _render(public_pb2.PaymentKeyBalance())["allowed_projects"] == []


@pytest.mark.parametrize(
    ("head", "status", "code"),
    [
        (b"GET /public/projects/" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: edge\r\n\r\n", 414,
         "uri_too_long"),
        (b"GET /healthz HTTP/1.1\r\nHost: edge\r\n" + b"X-Filler: " + b"b" * 40_000
         + b"\r\n\r\n", 431, "headers_too_large"),
    ],
)  # fmt: skip
def test_a_request_line_or_headers_over_the_limit_say_which(
    stack: Stack, head: bytes, status: int, code: str
) -> None:
    sock = stack.raw()
    with contextlib.suppress(OSError):  # the edge may close before it has read all of it
        sock.sendall(head)
    got, headers, body = read_response(sock)
    assert (got, body["code"]) == (status, code), body
    assert headers["content-type"] == "application/json" and "KiB" in body["message"]


def test_heads_over_the_limit_are_caught_in_pieces_and_pipelined(stack: Stack) -> None:
    """However the head arrives: in pieces (h11's own limit on a head it cannot parse yet), or
    queued behind another request on the same connection."""
    sock = stack.raw()
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: edge\r\nX-Filler: ")
    with contextlib.suppress(OSError):
        for _ in range(3):
            time.sleep(0.05)
            sock.sendall(b"c" * 8000)
    status, _, body = read_response(sock)
    assert (status, body["code"]) == (431, "headers_too_large"), body

    sock = stack.raw()
    small = b"GET /healthz HTTP/1.1\r\nHost: edge\r\n\r\n"
    large = b"GET /healthz?" + b"q" * 20_000 + b" HTTP/1.1\r\nHost: edge\r\n\r\n"
    with contextlib.suppress(OSError):
        sock.sendall(small + large)
    answers = b""  # both answers, however they come: the edge closes after the second
    while chunk := sock.recv(65536):
        answers += chunk
    statuses = [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", answers)]
    assert statuses == [200, 414] and b'"uri_too_long"' in answers, answers[:300]
