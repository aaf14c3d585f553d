"""``outlayer dev``: the whole stack on one machine, as separate processes talking over mTLS.

localnet (NEAR JSON-RPC, with the contract deployed), a git server on loopback with the example
repositories (standing in for GitHub), the compiler (Docker sandbox), the coordinator (SQLite),
the keystore (in development mode: no TDX here), one executor, the indexer and the HTTPS edge.
Compiled modules are kept between starts (the compiler's cache); everything else in a
start is a fresh world (localnet keeps its chain in memory), so the dev folder's database, keys
and indexer cursor are recreated; certificates are kept.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from devstack.ports import Ports, record_ports
from devstack.supervise import (
    DevLock,
    Supervisor,
    check_ports_free,
    private_folder,
    write_private,
)
from devtools.crate_mirror import CrateMirror, start_debian_mirror
from devtools.gitserver import GitServer, folder_files
from outlayer.errors import ErrorCode, OutlayerError, invalid_argument
from outlayer.near.keys import Signer
from outlayer.near.rpc import NearRpc
from outlayer.tls import ensure_dev_pki

# The examples, published on the loopback git server under GitHub's names: the compiler fetches
# them through a mirror setting, and the contract sees ordinary github.com sources.
EXAMPLES_OWNER = "https://github.com/outlayer-examples"
DEMO_REPO = f"{EXAMPLES_OWNER}/echo-json"
EXAMPLES = {
    "echo-json": "examples/guests/rust/echo-json",
    "echo-json-c": "examples/guests/c",
    "serde-echo": "examples/guests/rust/serde-echo",
    "word-count-cpp": "examples/guests/cpp/word-count",
    "echo-json-go": "examples/guests/go/echo-json",
    "echo-json-as": "examples/guests/assemblyscript/echo-json",
}
HTTPS_OWNER = "dev.localnet"
DASHBOARD_DIR = Path(__file__).resolve().parent.parent / "build" / "dashboard"
COMPILING = "compilation_in_progress"
# A first start on a fresh machine (cold caches, migrations) can be slow: waits are long, and
# say every few seconds what is still starting; a service that exits fails them at once.
STARTUP_TIMEOUT_S = 300.0
PROGRESS_EVERY_S = 10.0
FRESH_EACH_START = (
    "coordinator.db",
    "coordinator.db-wal",
    "coordinator.db-shm",
    "keys",
    "indexer",
    "worker.token",
    "git",
    "root.json",
    "payment.key",
    "admin.token",
)


class DevStack:
    def __init__(self, directory: Path, ports: Ports, log: Callable[[str], None]) -> None:
        self.dir = directory
        self.ports = ports
        self.log = log
        self.rpc_url = f"http://127.0.0.1:{ports.localnet}"
        self.supervisor = Supervisor(log)
        self.git: GitServer | None = None
        self.crates: CrateMirror | None = None
        self.example_commits: dict[str, str] = {}
        self._lock = DevLock(directory)

    @property
    def processes(self) -> dict[str, subprocess.Popen[bytes]]:
        return {name: s.process for name, s in self.supervisor.services.items()}

    def env(self) -> dict[str, str]:
        d = self.dir
        return {
            **os.environ,
            "OUTLAYER_TLS__DIR": str(d / "pki"),
            "OUTLAYER_DATABASE_URL": f"sqlite:///{d / 'coordinator.db'}",
            "OUTLAYER_COORDINATOR__LISTEN": f"127.0.0.1:{self.ports.coordinator}",
            "OUTLAYER_COORDINATOR__ADMIN_LISTEN": "127.0.0.1:0",
            "OUTLAYER_COORDINATOR__WASM_STORE_DIR": str(d / "wasm"),
            "OUTLAYER_COORDINATOR__COMPILER": f"127.0.0.1:{self.ports.compiler}",
            "OUTLAYER_EXECUTOR__COMPILER": f"127.0.0.1:{self.ports.compiler}",
            "OUTLAYER_COMPILER__LISTEN": f"127.0.0.1:{self.ports.compiler}",
            "OUTLAYER_COMPILER__CACHE_DIR": str(d / "wasm"),
            "OUTLAYER_COMPILER__WORK_DIR": str(d / "builds"),
            "OUTLAYER_COMPILER__GIT_MIRRORS": json.dumps(self._mirrors()),
            # crates.io is not reachable here: the stack serves Debian's crates as a registry,
            # always behind crates.io, so lockfiles are resolved again against it.
            "OUTLAYER_COMPILER__REGISTRIES__CRATES": f"sparse+http://127.0.0.1:{self.ports.crates}/index/",
            "OUTLAYER_COMPILER__ALLOW_LOCK_RERESOLUTION": "true",
            "OUTLAYER_COMPILER__PACKAGE_CACHE_DIR": str(d / "packages"),
            "OUTLAYER_EXECUTOR__LISTEN": f"127.0.0.1:{self.ports.executor}",
            "OUTLAYER_EXECUTOR__COORDINATOR": f"127.0.0.1:{self.ports.coordinator}",
            "OUTLAYER_EXECUTOR__WORKER_TOKEN_FILE": str(d / "worker.token"),
            "OUTLAYER_EXECUTOR__MODULE_CACHE_DIR": str(d / "modules"),
            # Guests' NEAR reads (docs/guest-abi.md) go to the stack's own localnet.
            "OUTLAYER_EXECUTOR__GUEST__CHAIN_RPC": self.rpc_url,
            "OUTLAYER_INDEXER__RPC_URL": self.rpc_url,
            "OUTLAYER_INDEXER__CONTRACT_ID": "outlayer.localnet",
            "OUTLAYER_INDEXER__OPERATOR_KEY_FILE": str(d / "keys" / "worker.localnet.json"),
            "OUTLAYER_INDEXER__COORDINATOR": f"127.0.0.1:{self.ports.coordinator}",
            "OUTLAYER_INDEXER__STATE_DIR": str(d / "indexer"),
            "OUTLAYER_INDEXER__START_HEIGHT": "0",
            "OUTLAYER_INDEXER__POLL_SECONDS": "0.2",
            "OUTLAYER_INDEXER__BLOCK_SECONDS": "0.2",  # localnet's --block-time below
            "OUTLAYER_INDEXER__SETTLE_HTTPS_SECONDS": "5",  # HTTPS earnings on chain soon
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
            # The dashboard, as set-up built it (build/dashboard), at the edge's /dashboard/.
            "OUTLAYER_EDGE__DASHBOARD_DIR": str(DASHBOARD_DIR) if self.has_dashboard else "",
        }

    def up(self) -> None:
        from devstack.demo import account, provision

        existed = self.dir.exists()
        private_folder(self.dir)
        # Nothing is touched before this stack owns the folder and its ports are free; a folder
        # made only to be refused in is taken away again.
        self._lock.acquire()  # refused: the folder is the running stack's, left as it is
        try:
            check_ports_free(vars(self.ports))
        except OutlayerError:
            if not existed:  # made here, held by this process only: nothing else is in it
                shutil.rmtree(self.dir, ignore_errors=True)
            self._lock.release()
            raise
        record_ports(self.dir, self.ports)
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
        self._wait(lambda: rpc.call("status", []) is not None, "localnet", ("localnet",))
        root = Signer.load(self.dir / "root.json")
        provision(rpc, root, self.dir / "keys", self.log)
        # The user of the README's steps (secrets store --key-file keys/alice.localnet.json),
        # ready before the first command needs her.
        account(rpc, root, "alice", self.dir / "keys", self.log)
        commit = self._publish_examples()
        self.crates = start_debian_mirror(self.ports.crates)
        self.log(f"crate registry (Debian's {len(self.crates.registry)} crates) at "
                 f"{self.crates.index_url}")  # fmt: skip
        # Created private before the first migration: SQLite keeps the mode for its WAL files.
        write_private(self.dir / "coordinator.db", "")
        token = self._outlayer("coordinator", "add-worker", "dev-executor")
        write_private(self.dir / "worker.token", token)
        self._start("compiler", "compiler", "serve")
        self._start("coordinator", "coordinator", "serve")
        self._start("keystore", "keystore", "serve")
        self._start("executor", "executor", "serve")
        self._start("indexer", "indexer", "serve")
        self._start("edge", "edge", "serve")
        self._https_project(commit)
        self._prebuild(commit)

    @property
    def edge_url(self) -> str:
        return f"https://127.0.0.1:{self.ports.edge}"

    @property
    def has_dashboard(self) -> bool:
        return (DASHBOARD_DIR / "index.html").is_file()

    def dashboard_url(self) -> str:
        """The dashboard, told where this stack's chain is when it is not on localnet's port."""
        query = "" if self.ports.localnet == 3030 else f"?rpc={self.rpc_url}"
        return f"{self.edge_url}/dashboard/{query}"

    def curl_line(self) -> str:
        secret = (self.dir / "payment.key").read_text().strip()
        return (
            f"curl --cacert {self.dir / 'pki' / 'ca.pem'} -H 'X-Payment-Key: {secret}' "
            f'-d \'{{"input": "hello"}}\' {self.edge_url}/call/{HTTPS_OWNER}/echo'
        )

    def _publish_examples(self) -> str:
        """Serves the example repositories on loopback; returns the demo's commit."""
        from devtools.guestbuild import REPO_ROOT

        self.git = GitServer(self.dir / "git").start()
        commits = {}
        for name, folder in EXAMPLES.items():
            root = REPO_ROOT / folder
            files = folder_files(root, with_wasm=name == "serde-echo")  # it commits one
            if name == "echo-json-c":
                files = {"echo_json.c": files["echo_json.c"]}
            commits[name] = self.git.publish("outlayer-examples", name, files)
        self.log(f"example repositories served at {self.git.url}/outlayer-examples/ as "
                 f"{EXAMPLES_OWNER}/...")  # fmt: skip
        self.example_commits = commits
        return commits["echo-json"]

    def _prebuild(self, commit: str) -> None:
        """Starts building the demo's example now (the compiler answers at once and builds in
        the background), so the first calls find it built, or nearly."""
        target = f"127.0.0.1:{self.ports.compiler}"
        self._wait(lambda: self._outlayer("compile", DEMO_REPO, "--commit", commit,
                                          "--compiler", target), "the compiler",
                   ("compiler",))  # fmt: skip
        self.log(f"compiling {DEMO_REPO} at {commit[:12]} in the background (first time: ~35 s)")

    def _mirrors(self) -> dict[str, str]:
        if self.git is None:
            return {}
        return {EXAMPLES_OWNER: f"{self.git.url}/outlayer-examples"}

    def _https_project(self, commit: str) -> None:
        """Projects and a payment key for HTTPS calls, made on chain as their owners would
        (dev.localnet's projects, alice's key in the development stablecoin), then waited for
        until the indexer has mirrored them."""
        import httpx

        from devstack.demo import USD, account, create_funded_key, provision_stablecoin

        rpc = NearRpc(self.rpc_url)
        keys = self.dir / "keys"
        root = Signer.load(self.dir / "root.json")
        outlayer = Signer.load(keys / f"outlayer.{root.account_id}.json")
        dev = account(rpc, root, HTTPS_OWNER.split(".", maxsplit=1)[0], keys, self.log)
        alice = Signer.load(keys / f"alice.{root.account_id}.json")
        token = provision_stablecoin(rpc, root, keys, outlayer=outlayer, holder=alice, log=self.log)
        sources = {"echo": {"repo": DEMO_REPO, "commit": commit}}
        # Every example is a project too (dev.localnet/serde-echo, /word-count-cpp, ...): each
        # is compiled on its first call (compile, then run) and cached after.
        for name, example_commit in self.example_commits.items():
            if name != "echo-json":
                sources[name] = {"repo": f"{EXAMPLES_OWNER}/{name}", "commit": example_commit}
        for name, source in sources.items():
            project = {"name": name, "code_source": source}
            made = rpc.function_call(dev, outlayer.account_id, "create_project", project,
                                     deposit=10**23)  # fmt: skip
            if made.failure is not None:
                raise OutlayerError(ErrorCode.INTERNAL, f"create_project {name}: {made.failure}")
        nonce, secret = create_funded_key(rpc, alice, outlayer.account_id, token, 100 * USD)
        client = httpx.Client(base_url=self.edge_url, verify=str(self.dir / "pki" / "ca.pem"),
                              timeout=30)  # fmt: skip
        balance = f"/public/payment-keys/{alice.account_id}/{nonce}/balance"
        # The edge answers 503 until the coordinator behind it is up; then the indexer mirrors.
        self._wait(
            lambda: (
                client.get(balance).status_code == 200
                and client.get(f"/public/projects/{HTTPS_OWNER}/echo").status_code == 200
            ),
            "the edge, the coordinator and the indexer's mirror of the chain",
            ("coordinator", "edge", "indexer"),
        )
        write_private(self.dir / "payment.key", secret)
        others = ", ".join(n for n in self.example_commits if n != "echo-json")
        self.log(f"projects {HTTPS_OWNER}/echo (and {others}) made on chain by their owner, and "
                 f"{alice.account_id}'s payment key {nonce} with 100 USD of {token}")  # fmt: skip

    def _admin_token(self) -> str:
        path = self.dir / "admin.token"
        if not path.is_file():
            import secrets

            write_private(path, secrets.token_urlsafe(24))
        return path.read_text().strip()

    def watch(self, stop: Callable[[], bool]) -> int:
        """Runs until ``stop()``, restarting services that die (see ``Supervisor``); returns
        the exit code for the CLI (1: a service that cannot be restarted ended)."""
        while not stop():
            fatal = self.supervisor.check()
            if fatal is not None:
                self.log(f"{fatal}; stopping the stack")
                return 1
            time.sleep(0.2)
        return 0

    def down(self) -> None:
        """Stops the services in the reverse order of their start, each before the next."""
        if self.git is not None:
            self.git.stop()
        if self.crates is not None:
            self.crates.stop()
        for process in reversed(list(self.processes.values())):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._lock.release()

    def _start(self, name: str, *args: str) -> None:
        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen([sys.executable, "-m", "cli.main", *args], env=self.env())

        # localnet keeps its chain in memory: a restarted one would be a different world.
        process = self.supervisor.add(name, start, restartable=name != "localnet")
        self.log(f"{name} started (pid {process.pid})")

    def _outlayer(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "cli.main", *args],
            env=self.env(),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise OutlayerError(ErrorCode.INTERNAL, f"outlayer {' '.join(args)}: {done.stderr}")
        return done.stdout.strip()

    def _wait(
        self,
        ready: Callable[[], Any],
        what: str,
        services: tuple[str, ...],
        timeout_s: float = STARTUP_TIMEOUT_S,
    ) -> None:
        """Waits for ``ready()``; fails at once when one of ``services`` exits, and says every
        few seconds what it is still waiting for."""
        began = time.monotonic()
        note_at = began + PROGRESS_EVERY_S
        while True:
            try:
                if ready():
                    return
            except Exception:  # not up yet (connection refused, not ready)
                pass
            processes = self.processes
            dead = [f"{n} (exit code {processes[n].returncode})" for n in services
                    if n in processes and processes[n].poll() is not None]  # fmt: skip
            if dead:
                raise OutlayerError(
                    ErrorCode.UNAVAILABLE,
                    f"{what} did not start: {', '.join(dead)} exited; its output above says why",
                )
            waited = time.monotonic() - began
            if waited > timeout_s:
                raise OutlayerError(
                    ErrorCode.UNAVAILABLE,
                    f"{what} did not start within {timeout_s:g} s (still starting: "
                    f"{', '.join(services)}); their output above says what they are doing",
                )
            if time.monotonic() >= note_at:
                self.log(f"waiting for {what} ({waited:.0f} s so far; still starting: "
                         f"{', '.join(services)})")  # fmt: skip
                note_at += PROGRESS_EVERY_S
            time.sleep(0.1)


def request(
    directory: Path,
    rpc_url: str,
    input_data: str,
    *,
    secrets_profile: str | None = None,
    timeout_s: float = 60,
    log: Callable[[str], None] = lambda _: None,
) -> Any:
    """One request on chain through the running stack, as a user makes it (alice, with her
    secrets of ``secrets_profile`` when given); returns the result. While the source compiles,
    the request is sent again when the platform says to."""
    from devstack.demo import account, send_request, wait_final

    rpc = NearRpc(rpc_url)
    root_key = directory / "root.json"
    if not root_key.is_file():
        raise OutlayerError(ErrorCode.NOT_FOUND, f"no stack in {directory}: run `outlayer dev`")
    alice = account(rpc, Signer.load(root_key), "alice", directory / "keys", lambda _: None)
    limits = {"max_instructions": 100_000_000, "max_execution_seconds": 10}
    source = {"repo": DEMO_REPO, "branch": "main"}
    secrets_ref = {"profile": secrets_profile} if secrets_profile else None

    def once() -> Any:
        sent = send_request(
            rpc, alice, "outlayer.localnet", code_source=source, input_data=input_data,
            limits=limits, secrets_ref=secrets_ref,
        )  # fmt: skip
        settled = wait_final(rpc, sent.tx_hash, alice.account_id, timeout_s)
        if settled.refusal is not None:  # refused when its receipt ran, after inclusion
            raise invalid_argument(f"outlayer.localnet refused the request: {settled.refusal}")
        return settled.value

    return _until_compiled(once, lambda result: result, timeout_s, log)


def https_call(
    directory: Path, edge_port: int, input_data: str, log: Callable[[str], None] = lambda _: None
) -> Any:
    """One HTTPS call through the edge with the dev stack's payment key (again while the source
    compiles)."""
    import httpx

    secret_file = directory / "payment.key"
    if not secret_file.is_file():
        raise OutlayerError(ErrorCode.NOT_FOUND, f"no stack in {directory}: run `outlayer dev`")

    def once() -> Any:
        return httpx.post(
            f"https://127.0.0.1:{edge_port}/call/{HTTPS_OWNER}/echo",
            json={"input": input_data, "response_format": "RESPONSE_FORMAT_JSON"},
            headers={"X-Payment-Key": secret_file.read_text().strip()},
            verify=str(directory / "pki" / "ca.pem"),
            timeout=90,
        ).json()

    return _until_compiled(once, lambda body: body.get("result") or {}, 90, log)


COMPILE_WAIT_S = 300.0


def _until_compiled(
    once: Callable[[], Any],
    result_of: Callable[[Any], Any],
    timeout_s: float,
    log: Callable[[str], None],
) -> Any:
    """Calls ``once`` again while its result says the source is compiling (a first call)."""
    deadline = time.monotonic() + COMPILE_WAIT_S + timeout_s
    while True:
        answer = once()
        error = (result_of(answer) or {}).get("error") or {}
        if error.get("type") != COMPILING or time.monotonic() > deadline:
            return answer
        log(f"{COMPILING}: {error.get('message')}")
        retry = float((error.get("compilation") or {}).get("retry_after_seconds") or 3)
        time.sleep(min(max(retry, 1.0), 5.0))
