"""The edge's HTTP(S) server: match a route, build the request message from the path and the
JSON body, call the service over gRPC with the caller's headers as metadata, answer in JSON.

Every error is a JSON body ``{"code": ..., "message": ...}`` with a stable code and an HTTP
status that fits it; a malformed body never reaches a service.
"""

from __future__ import annotations

import json
import ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

import grpc
from google.protobuf import json_format

from outlayer.attested import AttestedChannel
from outlayer.errors import OutlayerError
from outlayer.result import ExecutionResult
from outlayer.v1 import keystore_pb2, public_pb2
from services.edge.openapi import document
from services.edge.routes import Route, match, routes_for

KEYSTORE_SERVICE = keystore_pb2.DESCRIPTOR.services_by_name["KeystoreService"].full_name
FORWARDED_HEADERS = ("x-payment-key", "x-attached-deposit", "x-admin-token")
MAX_BODY = 2 * 1024 * 1024
HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 402,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.FAILED_PRECONDITION: 412,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


class Edge:
    """Routes to the coordinator's PublicService and, when configured, to the keystore's public
    methods over an attested channel."""

    def __init__(self, channel: grpc.Channel, keystore: AttestedChannel | None = None) -> None:
        self.channel = channel
        self.keystore = keystore
        self.routes: list[Route] = routes_for(
            public_pb2.DESCRIPTOR.services_by_name["PublicService"]
        )
        if keystore is not None:
            self.routes += routes_for(keystore_pb2.DESCRIPTOR.services_by_name["KeystoreService"])
        self.openapi = document(self.routes)

    def handle(self, verb: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        path, _, query = path.partition("?")
        if verb == "GET" and path == "/openapi.json":
            return 200, self.openapi
        if verb == "GET" and path == "/healthz":
            return 200, {"status": "ok"}
        found = match(self.routes, verb, path)
        if found is None:
            return 404, _error("not_found", f"no route {verb} {path}; see /openapi.json")
        route, params = found
        fields: dict[str, Any] = {}
        if route.body == "*" and body.strip():
            try:
                parsed = json.loads(body)
            except ValueError as exc:
                return 400, _error("invalid_json", f"the body is not valid JSON: {exc}")
            if not isinstance(parsed, dict):
                return 400, _error("invalid_json", "the body must be a JSON object")
            fields.update(parsed)
        fields.update(parse_qsl(query))  # grpc-gateway: query parameters fill fields too
        fields.update(params)
        try:
            request = json_format.ParseDict(fields, route.request_class())
        except json_format.ParseError as exc:
            return 400, _error(
                "invalid_argument",
                f"the request does not fit {route.method.input_type.name}: {exc}",
            )
        keystore_route = route.grpc_path.startswith(f"/{KEYSTORE_SERVICE}/")
        try:
            channel = self.keystore.get() if keystore_route and self.keystore else self.channel
        except OutlayerError as exc:
            return HTTP_STATUS.get(exc.grpc_status, 500), exc.to_json()
        call = channel.unary_unary(
            route.grpc_path,
            request_serializer=route.request_class.SerializeToString,
            response_deserializer=route.response_class.FromString,
        )
        metadata = tuple((name, headers[name]) for name in FORWARDED_HEADERS if headers.get(name))
        try:
            response = call(request, metadata=metadata, timeout=90)
        except grpc.RpcError as exc:
            if keystore_route and self.keystore and exc.code() is grpc.StatusCode.UNAVAILABLE:
                self.keystore.reset()  # attest again next time (a restarted keystore)
            return _from_grpc(exc)
        return 200, _render(response)


def _render(response: Any) -> Any:
    body = json_format.MessageToDict(response, preserving_proto_field_name=True)
    if isinstance(response, public_pb2.CallResponse) and response.HasField("result"):
        body["result"] = ExecutionResult.from_proto(response.result).to_json()  # the one shape
    return body


def _from_grpc(exc: grpc.RpcError) -> tuple[int, Any]:
    status = HTTP_STATUS.get(exc.code(), 500)
    details = exc.details() or ""
    code, sep, message = details.partition(": ")
    if not sep or " " in code:
        code, message = exc.code().name.lower(), details
    return status, _error(code, message)


def _error(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def make_server(edge: Edge, host: str, port: int,
                tls: tuple[str, str] | None) -> ThreadingHTTPServer:  # fmt: skip
    """``tls``: (certificate file, key file); None serves plain HTTP (loopback development)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, verb: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                status, body = 413, _error("too_large", f"the body is over {MAX_BODY} bytes")
            else:
                data = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, body = edge.handle(verb, self.path, data, headers)
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    if tls is not None:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(tls[0], tls[1])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    return server
