"""The edge's HTTP(S) server: uvicorn (h11) serving a Starlette app that matches a route, builds
the request message from the path, the query and the JSON body, calls the service over gRPC
(asyncio) with the caller's headers as metadata, and answers in JSON.

What one client can hold is bounded, so no client stops the others: the TLS handshake, the
request's headers and then its body each have a deadline; bodies have a size cap; requests in
progress have a cap (beyond it: 503 with Retry-After), and so do open connections. Waiting for
a call's result holds no thread: it is an awaited gRPC call.

Every error is a JSON body ``{"code": ..., "message": ...}`` with a stable code and an HTTP
status that fits it, including those the HTTP layer itself answers (malformed framing, headers
too slow); a malformed request never reaches a service.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import grpc
import grpc.aio
import h11
import uvicorn
from google.protobuf import descriptor, json_format
from google.protobuf.message import Message
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.routing import Route as StarletteRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from outlayer.attested import AttestedChannel
from outlayer.config import EdgeSettings
from outlayer.errors import ErrorCode, OutlayerError
from outlayer.grpcserver import GRPC_OPTIONS
from outlayer.result import ExecutionResult
from outlayer.v1 import keystore_pb2, public_pb2
from services.edge.openapi import HEADERS, document
from services.edge.ratelimit import RateLimits
from services.edge.routes import Route, match, query_fields, routes_for

log = logging.getLogger("outlayer.edge")
KEYSTORE_SERVICE = keystore_pb2.DESCRIPTOR.services_by_name["KeystoreService"].full_name
FORWARDED_HEADERS = tuple(h.lower() for h in HEADERS)
MAX_HEADER_VALUE = 1024  # a forwarded header (gRPC metadata is small: 8 KiB for all of it)
# A path variable: an account (at most 64 characters), a project name (64), a call id.
MAX_PATH_VALUE = 256
RPC_TIMEOUT_S = 90.0  # the longest call waits 60 s for its result
RETRY_AFTER_S = 1
# A body over the cap is read on (and dropped) up to this much more, so that a client still
# sending it reads the 413 rather than a reset; beyond it the connection is closed at once.
DRAIN_BYTES = 1024 * 1024
HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 402,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 412,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
ChannelFactory = Callable[[], grpc.aio.Channel]


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, code: str, message: str, **headers: str) -> Answer:
    return Answer(status, {"code": code, "message": message}, headers)


class Edge:
    """Routes to the coordinator's PublicService and, when configured, to the keystore's public
    methods over an attested channel.

    ``coordinator``: its address (HOST:PORT, plaintext on loopback) or a function that opens an
    asyncio channel to it (called once, inside the server's event loop)."""

    def __init__(
        self,
        coordinator: str | ChannelFactory,
        keystore: AttestedChannel | None = None,
        settings: EdgeSettings | None = None,
    ) -> None:
        if isinstance(coordinator, grpc.Channel):
            raise TypeError("Edge needs the coordinator's address or an asyncio channel factory")
        if isinstance(coordinator, str):
            target = coordinator
            self._open: ChannelFactory = lambda: grpc.aio.insecure_channel(
                target, options=GRPC_OPTIONS
            )
        else:
            self._open = coordinator
        self._channel: grpc.aio.Channel | None = None
        self.keystore = keystore
        self.settings = settings or EdgeSettings()
        self.routes: list[Route] = routes_for(
            public_pb2.DESCRIPTOR.services_by_name["PublicService"]
        )
        if keystore is not None:
            self.routes += routes_for(keystore_pb2.DESCRIPTOR.services_by_name["KeystoreService"])
        self.openapi = document(self.routes)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close(None)
            self._channel = None

    async def handle(
        self, verb: str, path: str, query: str, body: bytes, headers: dict[str, bytes]
    ) -> Answer:
        if path == "/openapi.json" and verb == "GET":
            return Answer(200, self.openapi)
        if path == "/healthz" and verb in ("GET", "HEAD"):  # probes use either
            return Answer(200, {"status": "ok"})
        found = match(self.routes, verb, path)
        if found is None:
            return self.not_routed(verb, path)
        route, params = found
        metadata = _metadata(headers)
        if isinstance(metadata, Answer):
            return metadata
        request = _request(route, params, query, body)
        if isinstance(request, Answer):
            return request
        if route.grpc_path.startswith(f"/{KEYSTORE_SERVICE}/"):
            return await asyncio.to_thread(self._keystore_call, route, request, metadata)
        if self._channel is None:
            self._channel = self._open()
        call = self._channel.unary_unary(
            route.grpc_path,
            request_serializer=route.request_class.SerializeToString,
            response_deserializer=route.response_class.FromString,
        )
        try:
            response = await call(request, metadata=metadata, timeout=RPC_TIMEOUT_S)
        except grpc.aio.AioRpcError as exc:
            return _from_grpc(exc.code(), exc.details())
        if _accepted(request, response):
            return Answer(202, _render(response), {"location": response.poll_url})
        return Answer(200, _render(response))

    def not_routed(self, verb: str, path: str) -> Answer:
        """405 with the methods served on ``path``, or 404 when none is."""
        if path == "/openapi.json":
            allowed = ["GET"]
        elif path == "/healthz":
            allowed = ["GET", "HEAD"]
        else:
            allowed = sorted({r.verb for r in self.routes if r.pattern.match(path)})
        if allowed:
            return _error(405, "method_not_allowed",
                          f"{verb} is not served on {path}; use {', '.join(allowed)}",
                          allow=", ".join(allowed))  # fmt: skip
        return _error(404, "not_found", f"no route {verb} {path}; see /openapi.json")

    def _keystore_call(
        self, route: Route, request: Message, metadata: tuple[tuple[str, str], ...]
    ) -> Answer:
        """The keystore's public methods: quick reads over a synchronous attested channel (in a
        thread of asyncio's pool: nothing here waits for a job)."""
        assert self.keystore is not None
        try:
            channel = self.keystore.get()
        except OutlayerError as exc:
            return Answer(HTTP_STATUS.get(exc.grpc_status, 500), exc.to_json())
        call = channel.unary_unary(
            route.grpc_path,
            request_serializer=route.request_class.SerializeToString,
            response_deserializer=route.response_class.FromString,
        )
        try:
            response = call(request, metadata=metadata, timeout=30)
        except grpc.RpcError as exc:
            if exc.code() is grpc.StatusCode.UNAVAILABLE:
                self.keystore.reset()  # attest again next time (a restarted keystore)
            return _from_grpc(exc.code(), exc.details())
        return Answer(200, _render(response))


def _metadata(headers: dict[str, bytes]) -> tuple[tuple[str, str], ...] | Answer:
    """The forwarded headers as gRPC metadata: printable ASCII only, as metadata must be."""
    forwarded = []
    for name in FORWARDED_HEADERS:
        value = headers.get(name)
        if value is None or not value.strip():
            continue
        title = next(h for h in HEADERS if h.lower() == name)
        if len(value) > MAX_HEADER_VALUE:
            return _error(400, "invalid_header", f"{title} is over {MAX_HEADER_VALUE} bytes")
        if any(byte < 0x20 or byte > 0x7E for byte in value):
            text = f"{title} must be printable ASCII (no control or non-ASCII bytes)"
            return _error(400, "invalid_header", text)
        forwarded.append((name, value.decode("ascii").strip()))
    return tuple(forwarded)


def _request(route: Route, params: dict[str, str], query: str, body: bytes) -> Message | Answer:
    """The request message from the JSON body (for ``body: "*"`` routes), the query (for the
    others: grpc-gateway's rule) and the path variables."""
    fields: dict[str, Any] = {}
    if route.body == "*":
        if body.strip():
            try:
                parsed = json.loads(body)
            except RecursionError:
                return _error(400, "invalid_json", "the body is nested too deeply")
            except ValueError as exc:  # includes bytes that are not UTF-8
                return _error(400, "invalid_json", f"the body is not valid JSON: {exc}")
            if not isinstance(parsed, dict):
                return _error(400, "invalid_json", "the body must be a JSON object")
            fields.update(parsed)
    elif query:
        try:
            pairs = parse_qsl(query, keep_blank_values=True, errors="strict")
        except (ValueError, UnicodeDecodeError):
            return _error(400, "invalid_query", "the query string is not valid UTF-8 form data")
        known = query_fields(route)
        for name, value in pairs:
            if name not in known:
                takes = ", ".join(sorted(known)) or "no query parameters"
                text = f"unknown query parameter {name!r}; this endpoint takes {takes}"
                return _error(400, "invalid_query", text)
            fields[name] = value
    for variable, value in params.items():
        if len(value) > MAX_PATH_VALUE:
            text = f"{variable} in the path is over {MAX_PATH_VALUE} characters ({len(value)})"
            return _error(400, "invalid_argument", text)
    fields.update(params)
    name = route.method.input_type.name
    try:
        request = json_format.ParseDict(fields, route.request_class())
        unknown = _unknown_enum(request)
        if unknown:
            return _error(400, "invalid_argument", f"the request does not fit {name}: {unknown}")
        request.SerializeToString()  # strings that cannot be encoded (lone surrogates) fail here
    except RecursionError:
        return _error(400, "invalid_argument", "the request is nested too deeply")
    except (json_format.ParseError, ValueError, TypeError) as exc:
        return _error(400, "invalid_argument", f"the request does not fit {name}: {exc}")
    return request  # type: ignore[no-any-return]


def _unknown_enum(message: Message) -> str:
    """An enum field holding a number its enum does not define (JSON may give any number)."""
    for field_descriptor, value in message.ListFields():
        if field_descriptor.enum_type is not None:
            values = value if field_descriptor.is_repeated else [value]
            for number in values:
                if number not in field_descriptor.enum_type.values_by_number:
                    names = ", ".join(v.name for v in field_descriptor.enum_type.values)
                    return f"{field_descriptor.name} {number} is not one of {names}"
        elif field_descriptor.type == descriptor.FieldDescriptor.TYPE_MESSAGE:
            if field_descriptor.message_type is None:
                continue
            if field_descriptor.message_type.GetOptions().map_entry:
                continue
            for item in value if field_descriptor.is_repeated else [value]:
                found = _unknown_enum(item)
                if found:
                    return found
    return ""


def _accepted(request: Message, response: Message) -> bool:
    """An asynchronous call still running: 202 Accepted, its result at ``poll_url``."""
    return (
        isinstance(request, public_pb2.CallRequest)
        and getattr(request, "async")  # a Python keyword, so not request.async
        and isinstance(response, public_pb2.CallResponse)
        and response.status == "pending"
    )


def _render(response: Any) -> Any:
    # Every field of the answer is there, at its zero value too (0, "", false, []): a client
    # reads it without asking first whether it came. Inside it (a list's rows, a source) a
    # field not set is left out, as each row's own shape says what applies to it.
    body = {**_top_level_defaults(type(response)),
            **json_format.MessageToDict(response, preserving_proto_field_name=True)}  # fmt: skip
    if isinstance(response, public_pb2.CallResponse) and response.HasField("result"):
        body["result"] = ExecutionResult.from_proto(response.result).to_json()  # the one shape
    return body


_ZERO_VALUES: dict[str, dict[str, Any]] = {}  # by message name: its fields at their zero value


def _top_level_defaults(message_type: type[Message]) -> dict[str, Any]:
    """The answer's own fields at their zero values (fresh lists each time: bodies are
    changed after)."""
    name = message_type.DESCRIPTOR.full_name
    defaults = _ZERO_VALUES.get(name)
    if defaults is None:
        defaults = _ZERO_VALUES[name] = json_format.MessageToDict(
            message_type(),
            preserving_proto_field_name=True,
            always_print_fields_with_no_presence=True,
        )
    return {field: list(value) if isinstance(value, list) else value
            for field, value in defaults.items()}  # fmt: skip


def _from_grpc(status_code: grpc.StatusCode, details: str | None) -> Answer:
    status = HTTP_STATUS.get(status_code, 500)
    text = details or ""
    code, sep, message = text.partition(": ")
    if not sep or " " in code:
        code, message = status_code.name.lower(), text
    if status == 503:
        message = message or "the service behind the edge is not answering"
        return _error(status, code, message, **{"retry-after": str(RETRY_AFTER_S)})
    return _error(status, code, message)


def _json(answer: Answer) -> Response:
    return JSONResponse(answer.body, answer.status, headers=answer.headers or None)


# --- the ASGI application --------------------------------------------------------------------


class _Busy:
    """Bounded concurrency: more requests in progress than the cap answer 503 + Retry-After."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.active = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.active >= self.limit:
            busy = _error(503, "overloaded",
                          f"the edge is serving {self.limit} requests; try again shortly",
                          **{"retry-after": str(RETRY_AFTER_S), "connection": "close"})  # fmt: skip
            await _json(busy)(scope, receive, send)
            return
        self.active += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.active -= 1


def create_app(edge: Edge) -> ASGIApp:
    settings = edge.settings
    methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]

    limits = RateLimits(settings.rate_per_ip, settings.rate_per_key, settings.rate_burst_seconds)

    async def endpoint(request: Request) -> Response:
        headers: dict[str, bytes] = {}
        for name, value in request.scope["headers"]:
            headers[name.decode("latin-1")] = value
        if request.url.path != "/healthz":  # probes are never limited
            ip = request.client.host if request.client else "unknown"
            refused = limits.refusal(ip, headers.get("x-payment-key"))
            if refused is not None:
                why, wait = refused
                return _json(_error(429, "rate_limited", f"{why}; try again in {wait} s",
                                    **{"retry-after": str(wait)}))  # fmt: skip
        body = b""
        if request.method in ("POST", "PUT", "PATCH"):
            read = await _read_body(request, headers, settings)
            if isinstance(read, Answer):
                return _json(read)
            body = read
        query = request.scope["query_string"].decode("latin-1")
        answer = await edge.handle(request.method, request.url.path, query, body, headers)
        return _json(answer)

    async def refused(request: Request, exc: Exception) -> Response:
        # Starlette's own: a method it does not route, a dashboard file that is not there.
        assert isinstance(exc, HTTPException)
        if exc.status_code == 405:  # a method no route takes (TRACE, PROPFIND, ...)
            return _json(edge.not_routed(request.method, request.url.path))
        code = "not_found" if exc.status_code == 404 else "bad_request"
        return _json(_error(exc.status_code, code, str(exc.detail)))

    async def failed(request: Request, exc: Exception) -> Response:
        log.exception("the edge failed on %s %s", request.method, request.url.path)
        return _json(_error(500, "internal", "the edge failed on this request; it logged why"))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await edge.close()

    routes: list[BaseRoute] = []
    if settings.dashboard_dir:  # the dashboard's built files (no API route starts /dashboard)
        routes.append(StarletteRoute("/dashboard", lambda _: RedirectResponse("/dashboard/")))
        routes.append(Mount("/dashboard", StaticFiles(directory=settings.dashboard_dir, html=True)))
    app = Starlette(
        routes=[*routes, StarletteRoute("/{path:path}", endpoint, methods=methods)],
        exception_handlers={HTTPException: refused, Exception: failed},
        lifespan=lifespan,
    )
    return _Busy(app, settings.max_concurrent_requests)


async def _read_body(
    request: Request, headers: dict[str, bytes], settings: EdgeSettings
) -> bytes | Answer:
    cap = settings.max_body_bytes
    declared = headers.get("content-length")
    if declared is not None and int(declared) > cap:  # h11 has checked it is digits
        return _error(413, "too_large", f"the body is over {cap} bytes", connection="close")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(settings.body_timeout_seconds):
            async for chunk in request.stream():
                size += len(chunk)
                if size > cap + DRAIN_BYTES:
                    break  # too much to read on: answer and close (the client may see a reset)
                if size <= cap:
                    chunks.append(chunk)
                # else: read on and drop, so that the client, still sending, reads the 413
                # instead of a connection reset by unread data
    except TimeoutError:
        if size > cap:
            return _error(413, "too_large", f"the body is over {cap} bytes", connection="close")
        promised = f" of the {int(declared)} bytes Content-Length promised" if declared else ""
        return _error(400, "incomplete_body",
                      f"the body did not arrive within {settings.body_timeout_seconds:g} s "
                      f"({size} bytes{promised})", connection="close")  # fmt: skip
    except ClientDisconnect:
        return _error(400, "incomplete_body", "the client went away mid-body")
    if size > cap:
        return _error(413, "too_large", f"the body is over {cap} bytes", connection="close")
    return b"".join(chunks)


# --- the HTTP/1.1 protocol and the server ------------------------------------------------------


def _raw_json(status: int, reason: str, body: dict[str, str], extra: str = "") -> bytes:
    payload = json.dumps(body).encode()
    head = (f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(payload)}\r\n{extra}connection: close\r\n\r\n")  # fmt: skip
    return head.encode() + payload


def send_without_delay(transport: asyncio.BaseTransport) -> None:
    """A response's headers and body leave in two writes: without TCP_NODELAY, Nagle's
    algorithm holds the body until the client's delayed ACK (~40 ms a call on a kept-alive
    connection)."""
    sock = transport.get_extra_info("socket")
    if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def unread_bytes_waiting(transport: asyncio.BaseTransport) -> bool:
    """Whether the connection's socket holds bytes the loop has not read yet (TLS records
    count: the client is sending)."""
    wrapped = transport.get_extra_info("socket")
    if wrapped is None:
        return False
    try:  # asyncio's wrapper has no recv(); a duplicate of the descriptor peeks the same socket
        with wrapped.dup() as sock:
            return bool(sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
    except OSError:  # nothing waiting (EAGAIN), or reset: nothing to keep the connection for
        return False


HEAD_LIMIT_BYTES = 16 * 1024  # a request line with its headers (h11's limit, uvicorn's default)


def _head_size(request: h11.Request) -> int:
    """About what the request's line and headers took on the wire."""
    line = len(request.method) + len(request.target) + len(" HTTP/1.1\r\n") + 1
    return line + sum(len(name) + len(value) + 4 for name, value in request.headers)


def _oversized_part(buffered: bytes) -> str:
    """Which part of a head h11 gave up on is too long: no line end within the limit is the
    request line."""
    line_end = buffered.find(b"\n", 0, HEAD_LIMIT_BYTES + 1)
    return "line" if line_end == -1 else "headers"


def protocol_for(settings: EdgeSettings) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with a deadline for each request's headers, a cap on open
    connections, and JSON bodies for the errors it answers itself."""

    class EdgeProtocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None
        _got_bytes = False
        _head_refusal: str = ""  # "line" or "headers": the request's head is over the limit

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            send_without_delay(transport)
            super().connection_made(transport)
            # Every request uvicorn takes from h11 passes here, pipelined ones too: h11 checks
            # its limit only on a head it cannot parse yet, so one that came whole would pass.
            next_event = self.conn.next_event

            def checked_next_event() -> Any:
                try:
                    event = next_event()
                except h11.RemoteProtocolError as exc:
                    if exc.error_status_hint == 431:  # h11: an incomplete head over its limit
                        self._head_refusal = _oversized_part(self.conn.trailing_data[0])
                    raise
                if isinstance(event, h11.Request) and _head_size(event) > HEAD_LIMIT_BYTES:
                    self._head_refusal = (
                        "line" if len(event.target) > HEAD_LIMIT_BYTES // 2 else "headers"
                    )
                    raise h11.RemoteProtocolError("head too large", error_status_hint=431)
                return event

            self.conn.next_event = checked_next_event  # type: ignore[method-assign]
            if len(self.connections) > settings.max_connections:
                body = {"code": "overloaded", "message": "too many open connections; retry"}
                extra = f"retry-after: {RETRY_AFTER_S}\r\n"
                transport.write(_raw_json(503, "Service Unavailable", body, extra))
                transport.close()
                return
            self._arm()

        def _arm(self) -> None:
            self._disarm()
            self._got_bytes = False
            self._header_timer = self.loop.call_later(
                settings.header_timeout_seconds, self._headers_late
            )

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_late(self) -> None:
            self._header_timer = None
            if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
                return
            if not self._got_bytes and unread_bytes_waiting(self.transport):
                # The client did send: a busy loop had not read it yet. Its headers get a
                # deadline of their own, from now.
                self._arm()
                self._got_bytes = True
                return
            if self._got_bytes:  # part of a request: say why it is closed
                message = (f"the request's headers did not arrive within "
                           f"{settings.header_timeout_seconds:g} s")  # fmt: skip
                body = {"code": "request_timeout", "message": message}
                self.transport.write(_raw_json(408, "Request Timeout", body))
            self.transport.close()

        def data_received(self, data: bytes) -> None:
            self._got_bytes = True
            try:
                super().data_received(data)
            except ValueError:  # what h11 does not check: a path that is not ASCII, ...
                if not self.transport.is_closing():
                    self.send_400_response("")
                return
            if self.conn.their_state is not h11.IDLE:
                self._disarm()  # the headers are in: the body has its own deadline

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
                self._arm()  # the next request on this keep-alive connection

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def send_400_response(self, msg: str) -> None:
            limit = f"{HEAD_LIMIT_BYTES // 1024} KiB"
            if self._head_refusal == "line":
                text = f"the request line is over {limit}: shorten the URL"
                body = {"code": "uri_too_long", "message": text}
                self.transport.write(_raw_json(414, "URI Too Long", body))
            elif self._head_refusal == "headers":
                text = f"the request's headers are over {limit}: send fewer or shorter ones"
                body = {"code": "headers_too_large", "message": text}
                self.transport.write(_raw_json(431, "Request Header Fields Too Large", body))
            else:
                text = "malformed HTTP/1.1 request (framing, Content-Length or headers)"
                body = {"code": "bad_request", "message": text}
                self.transport.write(_raw_json(400, "Bad Request", body))
            self.transport.close()

    return EdgeProtocol


class _EdgeLoop(asyncio.SelectorEventLoop):
    """An event loop whose TLS servers give up on a handshake after the edge's deadline
    (uvicorn does not pass one; asyncio's default is 60 s)."""

    handshake_timeout = 10.0

    async def create_server(self, *args: Any, **kwargs: Any) -> asyncio.Server:
        if kwargs.get("ssl") is not None:
            kwargs.setdefault("ssl_handshake_timeout", self.handshake_timeout)
        return await super().create_server(*args, **kwargs)


class EdgeServer:
    """The edge's server: its socket is bound when made (``server_address`` is known at once);
    :meth:`serve_forever` runs it in the calling thread, :meth:`shutdown` stops it from
    another."""

    def __init__(self, edge: Edge, host: str, port: int, tls: tuple[str, str] | None) -> None:
        settings = edge.settings
        try:
            self._socket = socket.create_server((host, port), backlog=2048)
        except OSError as exc:
            raise OutlayerError(
                ErrorCode.UNAVAILABLE,
                f"cannot listen on {host}:{port}: {exc.strerror}; is another process using it? "
                "Choose another address with edge.listen (or --listen)",
            ) from None
        self.server_address: tuple[str, int] = self._socket.getsockname()[:2]
        config = uvicorn.Config(
            create_app(edge),
            http=protocol_for(settings),
            h11_max_incomplete_event_size=HEAD_LIMIT_BYTES,
            lifespan="on",
            loop="none",
            ws="none",
            log_level="warning",
            access_log=False,
            server_header=False,
            timeout_keep_alive=int(max(1, settings.keep_alive_seconds)),
            timeout_graceful_shutdown=2,
            ssl_certfile=tls[0] if tls else None,
            ssl_keyfile=tls[1] if tls else None,
        )
        self._server = uvicorn.Server(config)
        self._handshake_timeout = settings.tls_handshake_timeout_seconds
        self._stopped = threading.Event()
        self._started = threading.Event()

    def serve_forever(self) -> None:
        loop = _EdgeLoop()
        loop.handshake_timeout = self._handshake_timeout
        asyncio.set_event_loop(loop)
        self._started.set()
        try:
            loop.run_until_complete(self._server.serve(sockets=[self._socket]))
        finally:
            loop.close()
            self._socket.close()
            self._stopped.set()

    def shutdown(self) -> None:
        self._server.should_exit = True
        if self._started.is_set():
            self._stopped.wait(30)
        else:
            self._socket.close()


def make_server(edge: Edge, host: str, port: int, tls: tuple[str, str] | None) -> EdgeServer:
    """``tls``: (certificate file, key file); None serves plain HTTP (loopback development)."""
    return EdgeServer(edge, host, port, tls)
