"""The guest SDKs (sdk/): each example is built by the compiler from a repository holding its
SDK, with the toolchain the compiler uses for that language (Rust with -Zbuild-std and the
development crate registry, clang-16 + wasi-libc, Go wasip1, AssemblyScript from npm), then run
with the local services ``outlayer run`` uses: a counter that persists across calls, a coin flip
whose proof verifies, and each SDK's errors carrying the platform's status and message.

One compiler for the module; each module is built once (Rust's first build makes std, minutes
on 2 cores)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import wasmtime

from devtools.gitserver import GitServer, folder_files
from outlayer import vrf
from outlayer.config import Settings
from outlayer.result import ResponseFormat
from services.compiler.builder import READY, Compiler
from services.executor import ExecutionJob, Executor
from services.executor.capabilities.local import local_services
from services.executor.capabilities.manifest import declared_fetch_hosts
from tests.capabilities.https_server import Server, https_server
from tests.compiler_fixture import compiler_settings

SDK = Path(__file__).parents[2] / "sdk"
GITHUB = "https://github.com"
pytestmark = pytest.mark.timeout(1800)

PRICE_MAIN = "examples/price/src/main.rs"
# name -> (the SDK folder published as a repository, its outlayer.toml, files changed)
EXAMPLES: dict[str, tuple[str, str, dict[str, str]]] = {
    "rust-counter": ("rust", '[build]\ndirectory = "examples/counter"\n', {}),
    "rust-coin-flip": ("rust", '[build]\ndirectory = "examples/coin-flip"\n', {}),
    "rust-price": ("rust", '[build]\ndirectory = "examples/price"\n', {}),
    # The price example, also allowed to reach the test's HTTPS server on loopback.
    "rust-price-local": (
        "rust",
        '[build]\ndirectory = "examples/price"\n',
        {
            PRICE_MAIN: (SDK / "rust" / PRICE_MAIN)
            .read_text()
            .replace(
                'fetch_hosts!("api.coingecko.com")',
                'fetch_hosts!("api.coingecko.com", "localhost")',
            ),
        },
    ),
    "c-counter": ("c", '[build]\ndirectory = "examples/counter"\n', {}),
    # Go builds a package of the SDK's module by its import path.
    "go-counter": ("go", '[build]\ntarget = "example.com/outlayer/sdk/examples/counter"\n', {}),
    "assemblyscript-counter": ("assemblyscript", '[build]\ndirectory = "examples/counter"\n', {}),
}
COUNTERS = ["rust", "c", "go", "assemblyscript"]


class Builds:
    """Builds each example the first time a test asks for it; remembers the module."""

    def __init__(self, compiler: Compiler, git: GitServer) -> None:
        self._compiler = compiler
        self._git = git
        self._built: dict[str, bytes] = {}
        self.seconds: dict[str, float] = {}

    def wasm(self, name: str) -> bytes:
        if name not in self._built:
            folder, config, changed = EXAMPLES[name]
            files = {**folder_files(SDK / folder), "outlayer.toml": config, **changed}
            commit = self._git.publish("alice", name, files)
            began = time.monotonic()
            outcome = self._compiler.compile(f"{GITHUB}/alice/{name}", commit, wait_seconds=None)
            self.seconds[name] = time.monotonic() - began
            assert outcome.status == READY and outcome.entry is not None, outcome.failure and (
                outcome.failure.message,
                outcome.failure.hidden_log[-3000:],
            )
            wasm = self._compiler.cache.read(outcome.entry.checksum)
            assert wasm is not None
            self._built[name] = wasm
        return self._built[name]


@pytest.fixture(scope="module")
def builds(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Builds]:
    root = tmp_path_factory.mktemp("sdks")
    git = GitServer(root / "git").start()
    configured = compiler_settings(settings, root, [git.url], git_mirrors={GITHUB: git.url})
    compiler = Compiler(configured.compiler)
    made = Builds(compiler, git)
    try:
        yield made
    finally:
        compiler.close()
        git.stop()
        times = ", ".join(f"{name} {seconds:.0f} s" for name, seconds in made.seconds.items())
        print(f"\nSDK example builds: {times}")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with https_server(tmp_path_factory.mktemp("oracle-pki")) as running:
        yield running


def run(
    executor: Executor,
    settings: Settings,
    wasm: bytes,
    data_dir: Path,
    stdin: bytes = b"",
    *,
    caller: str = "alice.near",
) -> dict[str, Any]:
    services = local_services(settings, wasm, data_dir=data_dir, store="project:dev.near/sdk",
                              caller=caller, origin_key="https:call-1")  # fmt: skip
    job = ExecutionJob(wasm, stdin, response_format=ResponseFormat.TEXT, services=services)
    result = executor.execute(job)
    assert result.ok, json.dumps(result.to_json())
    answer: dict[str, Any] = json.loads(str(result.output))
    return answer


def outlayer_imports(wasm: bytes) -> set[str]:
    module = wasmtime.Module(wasmtime.Engine(), wasm)
    return {str(i.name) for i in module.imports if i.module == "outlayer"}


@pytest.mark.parametrize("language", COUNTERS)
def test_the_counter_persists_across_calls_and_a_missing_key_is_not_found(
    language: str, builds: Builds, executor: Executor, settings: Settings, tmp_path: Path
) -> None:
    wasm = builds.wasm(f"{language}-counter")
    # A module imports only what it uses: that is how it asks for its capabilities.
    assert outlayer_imports(wasm) == {"storage_increment", "storage_get", "storage_set",
                                      "result_read"}  # fmt: skip
    first = run(executor, settings, wasm, tmp_path, b"first call")
    assert first["language"] == language and first["count"] == 1
    # The SDK mapped storage_get's NOT_FOUND to its own error, with the platform's message.
    assert first["previous_input"] is None
    assert first["previous_error"] == "NOT_FOUND (-1): no key 'last_input'"
    second = run(executor, settings, wasm, tmp_path, "é, second".encode())
    assert second["count"] == 2 and second["previous_input"] == "first call"
    assert second["previous_error"] is None
    third = run(executor, settings, wasm, tmp_path, b"")
    assert third["count"] == 3 and third["previous_input"] == "é, second"
    # Another store (a fresh data folder) starts again.
    assert run(executor, settings, wasm, tmp_path / "other")["count"] == 1


def test_the_rust_counter_keeps_each_callers_own_count(
    builds: Builds, executor: Executor, settings: Settings, tmp_path: Path
) -> None:
    wasm = builds.wasm("rust-counter")
    assert run(executor, settings, wasm, tmp_path, caller="alice.near")["caller_count"] == 1
    again = run(executor, settings, wasm, tmp_path, caller="alice.near")
    bob = run(executor, settings, wasm, tmp_path, caller="bob.near")
    assert (again["count"], again["caller_count"]) == (2, 2)
    assert (bob["count"], bob["caller_count"]) == (3, 1)


def test_the_coin_flip_is_verifiable_randomness(
    builds: Builds, executor: Executor, settings: Settings, tmp_path: Path
) -> None:
    wasm = builds.wasm("rust-coin-flip")
    assert outlayer_imports(wasm) == {"random", "result_read"}
    flip = run(executor, settings, wasm, tmp_path, b"round-1")
    proved = flip["randomness"]
    assert proved["origin"] == "https:call-1" and proved["seed"] == b"round-1".hex()
    assert proved["prover"] == "local development key"
    public_key, proof = bytes.fromhex(proved["public_key"]), bytes.fromhex(proved["proof"])
    output = vrf.verify(public_key, vrf.alpha_for("https:call-1", b"round-1"), proof)
    assert output.hex() == proved["output"]
    assert flip["side"] == ("heads" if output[0] % 2 == 0 else "tails")
    # One request and seed have exactly one output: a rerun cannot re-roll it.
    assert run(executor, settings, wasm, tmp_path, b"round-1") == flip
    other = run(executor, settings, wasm, tmp_path, b"round-2")["randomness"]
    assert other["output"] != proved["output"]
    with pytest.raises(vrf.InvalidProof):
        vrf.verify(public_key, vrf.alpha_for("https:call-1", b"round-2"), proof)


def test_the_rust_fetch_hosts_macro_declares_the_section_and_refusals_are_errors(
    builds: Builds, executor: Executor, settings: Settings, tmp_path: Path
) -> None:
    wasm = builds.wasm("rust-price")
    assert declared_fetch_hosts(wasm) == ["api.coingecko.com"]
    refused = run(executor, settings, wasm, tmp_path, b"https://example.org/price")
    assert refused == {
        "error": "REFUSED",
        "message": "example.org is not among the hosts this module declared: api.coingecko.com",
    }
    plain = run(executor, settings, wasm, tmp_path, b"http://api.coingecko.com/")
    assert plain["error"] == "REFUSED" and "https" in plain["message"]


def test_the_rust_sdk_fetches_over_verified_tls(
    builds: Builds, executor: Executor, settings: Settings, tmp_path: Path, server: Server
) -> None:
    wasm = builds.wasm("rust-price-local")
    assert declared_fetch_hosts(wasm) == ["api.coingecko.com", "localhost"]
    guest = settings.executor.guest.model_copy(update={
        "fetch_allow_networks": ["127.0.0.0/8"], "fetch_ca_file": server.ca_file})  # fmt: skip
    loopback = settings.model_copy(update={
        "executor": settings.executor.model_copy(update={"guest": guest})})  # fmt: skip
    answer = run(executor, loopback, wasm, tmp_path, server.url("/price").encode())
    assert answer["status"] == 200
    assert json.loads(answer["body"]) == {"pair": "NEAR-USD", "price": "3.14"}
    # Without the exemption, the platform's guard refuses loopback: the SDK's Refused.
    refused = run(executor, settings, wasm, tmp_path, server.url("/price").encode())
    assert refused["error"] == "REFUSED" and "127.0.0.1" in refused["message"]
