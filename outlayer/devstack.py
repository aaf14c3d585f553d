"""``outlayer dev``: the whole stack on one machine, as separate processes talking over mTLS.

localnet (NEAR JSON-RPC, with the contract deployed), the coordinator (SQLite), the keystore (in
development mode: no TDX here), one executor, the indexer and the HTTPS edge. Each start is a
fresh world (localnet keeps its chain in memory), so the dev folder's database, keys and indexer
cursor are recreated; certificates are kept.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from outlayer.errors import ErrorCode, OutlayerError
from outlayer.near.keys import Signer
from outlayer.near.rpc import NearRpc
from outlayer.tls import ensure_dev_pki
from outlayer.wasmstore import WasmStore

DEMO_REPO = "https://github.com/outlayer/echo-json"
DEMO_COMMIT = "e" * 40
HTTPS_OWNER = "dev.localnet"
FRESH_EACH_START = (
    "coordinator.db",
    "coordinator.db-wal",
    "coordinator.db-shm",
    "keys",
    "indexer",
    "worker.token",
    "sources.json",
    "root.json",
    "payment.key",
    "admin.token",
)


@dataclass(frozen=True)
class Ports:
    localnet: int = 3030
    coordinator: int = 50060
    executor: int = 50061
    edge: int = 8443
    keystore: int = 50064


class DevStack:
    def __init__(self, directory: Path, ports: Ports, log: Callable[[str], None]) -> None:
        self.dir = directory
        self.ports = ports
        self.log = log
        self.rpc_url = f"http://127.0.0.1:{ports.localnet}"
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def env(self) -> dict[str, str]:
        d = self.dir
        return {
            **os.environ,
            "OUTLAYER_TLS__DIR": str(d / "pki"),
            "OUTLAYER_DATABASE_URL": f"sqlite:///{d / 'coordinator.db'}",
            "OUTLAYER_COORDINATOR__LISTEN": f"127.0.0.1:{self.ports.coordinator}",
            "OUTLAYER_COORDINATOR__ADMIN_LISTEN": "127.0.0.1:0",
            "OUTLAYER_COORDINATOR__WASM_STORE_DIR": str(d / "wasm"),
            "OUTLAYER_COORDINATOR__SOURCES_FILE": str(d / "sources.json"),
            "OUTLAYER_EXECUTOR__LISTEN": f"127.0.0.1:{self.ports.executor}",
            "OUTLAYER_EXECUTOR__COORDINATOR": f"127.0.0.1:{self.ports.coordinator}",
            "OUTLAYER_EXECUTOR__WORKER_TOKEN_FILE": str(d / "worker.token"),
            "OUTLAYER_EXECUTOR__MODULE_CACHE_DIR": str(d / "modules"),
            "OUTLAYER_INDEXER__RPC_URL": self.rpc_url,
            "OUTLAYER_INDEXER__CONTRACT_ID": "outlayer.localnet",
            "OUTLAYER_INDEXER__OPERATOR_KEY_FILE": str(d / "keys" / "worker.localnet.json"),
            "OUTLAYER_INDEXER__COORDINATOR": f"127.0.0.1:{self.ports.coordinator}",
            "OUTLAYER_INDEXER__STATE_DIR": str(d / "indexer"),
            "OUTLAYER_INDEXER__START_HEIGHT": "0",
            "OUTLAYER_INDEXER__POLL_SECONDS": "0.2",
            "OUTLAYER_INDEXER__LISTEN": "127.0.0.1:0",
            "OUTLAYER_EDGE__LISTEN": f"127.0.0.1:{self.ports.edge}",
            "OUTLAYER_EDGE__COORDINATOR": f"127.0.0.1:{self.ports.coordinator}",
            "OUTLAYER_COORDINATOR__ADMIN_TOKEN": self._admin_token(),
            "OUTLAYER_KEYSTORE__LISTEN": f"127.0.0.1:{self.ports.keystore}",
            "OUTLAYER_KEYSTORE__MODE": "development",
            "OUTLAYER_KEYSTORE__MASTER_KEY_FILE": str(d / "keystore-master.key"),
            "OUTLAYER_KEYSTORE__RPC_URL": self.rpc_url,
            "OUTLAYER_KEYSTORE__CONTRACT_ID": "outlayer.localnet",
            "OUTLAYER_EXECUTOR__KEYSTORE": f"127.0.0.1:{self.ports.keystore}",
            "OUTLAYER_EDGE__KEYSTORE": f"127.0.0.1:{self.ports.keystore}",
            # No TDX on a development machine: its clients accept the labelled development
            # attestation, which production clients refuse.
            "OUTLAYER_ATTESTATION__ACCEPT_DEVELOPMENT": "true",
        }

    def up(self) -> None:
        from localnet.demo import provision
        from outlayer.devtools.guestbuild import OUT_DIR
        from services.coordinator.sources import SourceMap

        self.dir.mkdir(parents=True, exist_ok=True)
        for name in FRESH_EACH_START:
            path = self.dir / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        ensure_dev_pki(self.dir / "pki")
        self._start(
            "localnet",
            "localnet",
            "serve",
            "--listen",
            f"127.0.0.1:{self.ports.localnet}",
            "--block-time",
            "0.2",
            "--state-dir",
            str(self.dir),
        )
        rpc = NearRpc(self.rpc_url)
        self._wait(lambda: rpc.call("status", []) is not None, "localnet")
        root = Signer.load(self.dir / "root.json")
        provision(rpc, root, self.dir / "keys", self.log)
        guest = OUT_DIR / "echo_json_rust.wasm"
        if not guest.is_file():
            raise OutlayerError(ErrorCode.NOT_FOUND, f"{guest} is missing: run scripts/setup.sh")
        digest = WasmStore(self.dir / "wasm").put(guest.read_bytes())
        SourceMap.add(self.dir / "sources.json", DEMO_REPO, DEMO_COMMIT, digest)
        token = self._outlayer("coordinator", "add-worker", "dev-executor")
        (self.dir / "worker.token").write_text(token)
        self._start("coordinator", "coordinator", "serve")
        self._start("keystore", "keystore", "serve")
        self._start("executor", "executor", "serve")
        self._start("indexer", "indexer", "serve")
        self._start("edge", "edge", "serve")
        self._https_project(digest)

    @property
    def edge_url(self) -> str:
        return f"https://127.0.0.1:{self.ports.edge}"

    def curl_line(self) -> str:
        secret = (self.dir / "payment.key").read_text().strip()
        return (
            f"curl --cacert {self.dir / 'pki' / 'ca.pem'} -H 'X-Payment-Key: {secret}' "
            f'-d \'{{"input": "hello"}}\' {self.edge_url}/call/{HTTPS_OWNER}/echo'
        )

    def _https_project(self, digest: str) -> None:
        """A project and a payment key for HTTPS calls, through the edge's own API."""
        import httpx

        client = httpx.Client(
            base_url=self.edge_url,
            verify=str(self.dir / "pki" / "ca.pem"),
            headers={"X-Admin-Token": self._admin_token()},
            timeout=30,
        )
        project = {"owner": HTTPS_OWNER, "name": "echo", "wasm_sha256": digest}
        # The edge answers 503 until the coordinator behind it is up.
        self._wait(
            lambda: client.post("/projects", json=project).status_code == 200,
            "the edge and the coordinator",
        )
        key = client.post(
            "/payment-keys", json={"owner": "alice.localnet", "balance_yocto": str(10 * 10**24)}
        )
        if key.status_code != 200:
            raise OutlayerError(ErrorCode.INTERNAL, f"creating the dev payment key: {key.text}")
        (self.dir / "payment.key").write_text(key.json()["secret"])
        self.log(f"project {HTTPS_OWNER}/echo and a payment key with 10 NEAR are ready")

    def _admin_token(self) -> str:
        path = self.dir / "admin.token"
        if not path.is_file():
            import secrets

            path.write_text(secrets.token_urlsafe(24))
        return path.read_text().strip()

    def watch(self, stop: Callable[[], bool]) -> int:
        """Waits until ``stop()`` or a service exits; returns the exit code for the CLI."""
        while not stop():
            for name, process in self.processes.items():
                if process.poll() is not None:
                    self.log(f"{name} exited with code {process.returncode}; stopping the stack")
                    return 1
            time.sleep(0.2)
        return 0

    def down(self) -> None:
        """Stops the services in the reverse order of their start, each before the next."""
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def _start(self, name: str, *args: str) -> None:
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "outlayer.cli.main", *args], env=self.env()
        )

    def _outlayer(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "outlayer.cli.main", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise OutlayerError(ErrorCode.INTERNAL, f"outlayer {' '.join(args)}: {done.stderr}")
        return done.stdout.strip()

    def _wait(self, ready: Callable[[], Any], what: str, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if ready():
                    return
            except Exception:  # not up yet (connection refused, not ready)
                pass
            time.sleep(0.1)
        raise OutlayerError(ErrorCode.UNAVAILABLE, f"{what} did not start within {timeout_s:g} s")


def request(
    directory: Path,
    rpc_url: str,
    input_data: str,
    secrets_profile: str | None = None,
    timeout_s: float = 60,
) -> Any:
    """One request on chain through the running stack, as a user makes it (alice, with her
    secrets of ``secrets_profile`` when given); returns the result."""
    from localnet.demo import account, send_request, wait_final

    rpc = NearRpc(rpc_url)
    root_key = directory / "root.json"
    if not root_key.is_file():
        raise OutlayerError(ErrorCode.NOT_FOUND, f"no stack in {directory}: run `outlayer dev`")
    alice = account(rpc, Signer.load(root_key), "alice", directory / "keys", lambda _: None)
    limits = {"max_instructions": 100_000_000, "max_execution_seconds": 10}
    source = {"repo": DEMO_REPO, "commit": DEMO_COMMIT}
    secrets_ref = {"profile": secrets_profile} if secrets_profile else None
    sent = send_request(rpc, alice, "outlayer.localnet", code_source=source,
                        input_data=input_data, limits=limits, secrets_ref=secrets_ref)  # fmt: skip
    return wait_final(rpc, sent.tx_hash, alice.account_id, timeout_s).value


def https_call(directory: Path, edge_port: int, input_data: str) -> Any:
    """One HTTPS call through the edge with the dev stack's payment key."""
    import httpx

    secret_file = directory / "payment.key"
    if not secret_file.is_file():
        raise OutlayerError(ErrorCode.NOT_FOUND, f"no stack in {directory}: run `outlayer dev`")
    response = httpx.post(
        f"https://127.0.0.1:{edge_port}/call/{HTTPS_OWNER}/echo",
        json={"input": input_data, "response_format": "RESPONSE_FORMAT_JSON"},
        headers={"X-Payment-Key": secret_file.read_text().strip()},
        verify=str(directory / "pki" / "ca.pem"),
        timeout=90,
    )
    return response.json()
