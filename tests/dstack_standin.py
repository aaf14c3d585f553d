"""A stand-in for the dstack guest agent's HTTP API (what ``dstack-sdk`` talks to), because no
TDX VM exists on this machine. It derives keys from a fixed seed and answers every GetQuote with
one recorded, genuine TDX quote: its report_data is that quote's, not the caller's, so a client
that checks the binding must refuse it, which is what the tests assert."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

SEED = b"dstack stand-in: not a TEE"


@contextmanager
def running_dstack_standin(quote_file: Path) -> Iterator[tuple[str, list[str]]]:
    """Yields the endpoint URL and the list of methods called (in order)."""
    quote = quote_file.read_bytes()
    calls: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            method = self.path.strip("/")
            calls.append(method)
            answer: Any
            if method == "GetKey":
                path = f"{body.get('path', '')}|{body.get('purpose', '')}".encode()
                answer = {"key": hmac.new(SEED, path, hashlib.sha256).hexdigest(),
                          "signature_chain": []}  # fmt: skip
            elif method == "GetQuote":
                answer = {"quote": quote.hex(), "event_log": "[]",
                          "report_data": body.get("report_data", ""), "vm_config": ""}  # fmt: skip
            else:
                self.send_error(404, f"the stand-in does not serve {method}")
                return
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", calls
    finally:
        server.shutdown()
        server.server_close()
