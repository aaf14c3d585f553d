"""A real stack for the edge's tests: the coordinator (SQLite), one JobRunner on the session's
executor, and the edge (uvicorn) with short deadlines, over plain HTTP or TLS, on port 0."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest

from outlayer.config import EdgeSettings, Settings
from outlayer.tls import ensure_dev_pki, identity_in
from outlayer.wasmstore import WasmStore
from services.coordinator.database import make_engine, migrate
from services.coordinator.service import build_server
from services.coordinator.workers import register_worker
from services.edge.server import Edge, make_server
from services.executor import Executor
from services.executor.runner import JobRunner
from tests.conftest import built_guest, wat_guest

ADMIN_TOKEN = "edge-admin"
ADMIN = {"X-Admin-Token": ADMIN_TOKEN}
FAST = {  # deadlines short enough for tests to see them pass
    "header_timeout_seconds": 1.0,
    "body_timeout_seconds": 1.0,
    "tls_handshake_timeout_seconds": 1.0,
    "keep_alive_seconds": 5.0,
}

USDC = "usdc.near"  # a stablecoin's account: keys in it pay in its smallest unit


@dataclass
class Stack:
    base: str
    port: int
    http: httpx.Client
    ca_file: Path | None

    def admin(self, path: str, body: dict[str, Any]) -> Any:
        response = self.http.post(path, json=body, headers=ADMIN)
        assert response.status_code == 200, response.text
        return response.json()

    def key(
        self, owner: str = "alice.near", balance: int = 10**25, token_id: str = USDC
    ) -> tuple[str, str]:
        """An operator's key; in a stablecoin by default, so calls may attach a deposit."""
        made = self.admin(
            "/payment-keys", {"owner": owner, "balance": str(balance), "token_id": token_id}
        )
        return made["key_id"], made["secret"]

    def call(self, secret: str, body: dict[str, Any], project: str = "echo") -> httpx.Response:
        return self.http.post(
            f"/call/dev.near/{project}", json=body, headers={"X-Payment-Key": secret}
        )

    def raw(self) -> socket.socket:
        """A TCP connection to the edge (with TLS when the stack has it)."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=15)
        if self.ca_file is None:
            return sock
        context = ssl.create_default_context(cafile=str(self.ca_file))
        return context.wrap_socket(sock, server_hostname="127.0.0.1")


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], Any]:
    """One HTTP/1.1 response (Content-Length framed, as the edge sends them)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"the connection closed before a response: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = (line.partition(":") for line in lines[1:])
    headers = {name.strip().lower(): value.strip() for name, _, value in fields}
    length = int(headers.get("content-length", "0"))
    while len(rest) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        rest += chunk
    body = json.loads(rest[:length]) if length else None
    return status, headers, body


def closed_by_peer(sock: socket.socket) -> bool:
    """True once the edge has closed ``sock`` (waits up to the socket's timeout)."""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True
    except (ConnectionResetError, ssl.SSLError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


@contextmanager
def edge_stack(
    settings: Settings, executor: Executor, root: Path, *, tls: bool = False, **edge: Any
) -> Iterator[Stack]:
    engine = make_engine(f"sqlite:///{root / 'coordinator.db'}")
    migrate(engine)
    configured = settings.model_copy(update={"coordinator": settings.coordinator.model_copy(
        update={"admin_token": ADMIN_TOKEN})})  # fmt: skip
    server, port = build_server(configured, engine, "127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    store = WasmStore(root / "wasm")
    echo = store.put(built_guest("echo_json_rust"))
    sleepy = store.put(wat_guest("sleep_in_host_call"))
    stop = threading.Event()
    runner = JobRunner(executor, channel, register_worker(engine, "w"), store)
    worker = threading.Thread(target=runner.run_forever, args=(stop, 0.5), daemon=True)
    worker.start()
    certificate = None
    ca_file = None
    if tls:
        ensure_dev_pki(root / "pki", ("edge",))
        identity = identity_in(root / "pki", "edge")
        certificate = (str(identity.cert_file), str(identity.key_file))
        ca_file = identity.ca_file
    edge_settings = EdgeSettings(**{**FAST, **edge})
    served = make_server(Edge(f"127.0.0.1:{port}", settings=edge_settings), "127.0.0.1", 0,
                         certificate)  # fmt: skip
    threading.Thread(target=served.serve_forever, daemon=True).start()
    edge_port = served.server_address[1]
    base = f"{'https' if tls else 'http'}://127.0.0.1:{edge_port}"
    verify: Any = ssl.create_default_context(cafile=str(ca_file)) if ca_file else True
    try:
        with httpx.Client(base_url=base, timeout=60, verify=verify) as http:
            stack = Stack(base, edge_port, http, ca_file)
            stack.admin("/projects", {"owner": "dev.near", "name": "echo", "wasm_sha256": echo})
            stack.admin("/projects", {"owner": "dev.near", "name": "sleepy", "wasm_sha256": sleepy})
            yield stack
    finally:
        stop.set()
        worker.join()
        served.shutdown()
        server.stop(grace=None)
        channel.close()
        engine.dispose()


@pytest.fixture
def stack(settings: Settings, executor: Executor, tmp_path: Path) -> Iterator[Stack]:
    with edge_stack(settings, executor, tmp_path) as running:
        yield running
