"""A real HTTPS server on loopback for the fetch tests: its certificate is issued by a CA of the
test's own (``outlayer.tls.ensure_dev_pki``) for localhost, 127.0.0.1 and
``oracle.outlayer.internal``."""

from __future__ import annotations

import json
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from outlayer.tls import ensure_dev_pki, identity_in

NAME = "oracle"  # its certificate says oracle.outlayer.internal, localhost and 127.0.0.1


@dataclass(frozen=True)
class Server:
    port: int
    ca_file: Path
    requests: list[dict[str, object]]

    def url(self, path: str, host: str = "localhost") -> str:
        return f"https://{host}:{self.port}{path}"


class _Handler(BaseHTTPRequestHandler):
    server_version = "oracle/1"

    def log_message(self, *_args: object) -> None:  # quiet
        return None

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        seen = {"method": self.command, "path": self.path, "body": body.decode(errors="replace"),
                "headers": {k.lower(): v for k, v in self.headers.items()}}  # fmt: skip
        self.server.requests.append(seen)  # type: ignore[attr-defined]
        if parts.path == "/price":
            self._answer(200, json.dumps({"pair": "NEAR-USD", "price": "3.14"}).encode(),
                         {"content-type": "application/json"})  # fmt: skip
        elif parts.path == "/redirect":
            self._answer(int(query.get("status", ["302"])[0]), b"", {"location": query["to"][0]})
        elif parts.path == "/big":
            self._answer(200, b"x" * int(query["bytes"][0]))
        elif parts.path == "/slow":
            time.sleep(float(query["seconds"][0]))
            self._answer(200, b"late")
        elif parts.path == "/echo":
            self._answer(200, json.dumps(seen).encode())
        else:
            self._answer(404, b"no such path")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle  # noqa: N815


@contextmanager
def https_server(directory: Path) -> Iterator[Server]:
    ensure_dev_pki(directory, (NAME,))
    identity = identity_in(directory, NAME)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(identity.cert_file, identity.key_file)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.requests = []  # type: ignore[attr-defined]
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, name="oracle", daemon=True)
    thread.start()
    try:
        yield Server(httpd.server_address[1], identity.ca_file, httpd.requests)  # type: ignore[attr-defined]
    finally:
        httpd.shutdown()
        httpd.server_close()
