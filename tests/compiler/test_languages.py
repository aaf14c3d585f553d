"""Real repositories build and run: Rust with crates from a registry, C++, Go, AssemblyScript.

One compiler for the module (the Rust builds share its prebuilt std), a loopback git server,
the development crate registry (Debian's crates) and, for AssemblyScript, the npm registry.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import threading
import time
import zipfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest

from devstack.demo import account, provision, send_request, wait_final
from devtools.crate_mirror import CrateMirror
from devtools.gitserver import GitServer, folder_files
from outlayer.config import Settings
from outlayer.errors import ExecutionErrorType as Category
from outlayer.near.keys import Signer
from outlayer.near.rpc import NearRpc
from outlayer.result import ExecutionResult, ResponseFormat
from outlayer.v1 import coordinator_pb2_grpc, execution_pb2, public_pb2, public_pb2_grpc
from outlayer.wasmstore import WasmStore
from services.compiler.builder import FAILED, READY, CompileOutcome, Compiler
from services.compiler.projects import go_root
from services.coordinator.database import make_engine, migrate
from services.coordinator.service import build_server
from services.coordinator.workers import register_worker
from services.executor import ExecutionJob, Executor
from services.executor.runner import JobRunner
from services.indexer.cursor import Cursor
from services.indexer.feed import RequestFeed
from services.indexer.indexer import Chain, Indexer
from tests.compiler_fixture import compiler_settings, running_compiler
from tests.localnet_server import running_localnet

EXAMPLES = Path(__file__).parents[2] / "examples" / "guests"
GITHUB = "https://github.com"
pytestmark = pytest.mark.timeout(1200)  # Rust builds std once, then crates: minutes on 2 cores
MAIN = 'fn main() { println!("{}", serde_json::json!({"ok": true})); }\n'
# The examples' release profile: one prebuilt std serves every Rust build of this module.
PROFILE = '\n[profile.release]\nopt-level = "s"\npanic = "abort"\n'


@pytest.fixture(scope="module")
def git(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitServer]:
    server = GitServer(tmp_path_factory.mktemp("git")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def compiler_service(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory, git: GitServer
) -> Iterator[tuple[str, Compiler]]:
    """A compiler service (its HOST:PORT, its engine): sources under github.com names are
    fetched from the loopback git server (compiler.git_mirrors)."""
    root = tmp_path_factory.mktemp("languages")
    mirrors = {GITHUB: git.url}
    with running_compiler(settings, root, allowed_hosts=[git.url], git_mirrors=mirrors) as running:
        yield running


@pytest.fixture(scope="module")
def compiler(compiler_service: tuple[str, Compiler]) -> Compiler:
    return compiler_service[1]


@contextmanager
def own_compiler(
    settings: Settings, root: Path, git: GitServer, **changes: object
) -> Iterator[Compiler]:
    """A test's own compiler (other settings), fetching github.com names from ``git``."""
    configured = compiler_settings(
        settings, root, [git.url], git_mirrors={GITHUB: git.url}, **changes
    )
    compiler = Compiler(configured.compiler)
    try:
        yield compiler
    finally:
        compiler.close()


# What each test published: name -> commit (the platform test runs the same builds).
PUBLISHED: dict[str, str] = {}


def build(
    compiler: Compiler, git: GitServer, name: str, files: Mapping[str, str | bytes]
) -> CompileOutcome:
    commit = git.publish("alice", name, dict(files))
    PUBLISHED[name] = commit
    return compiler.compile(f"{GITHUB}/alice/{name}", commit, wait_seconds=None)


def run(compiler: Compiler, executor: Executor, outcome: CompileOutcome, stdin: bytes,
        env: dict[str, str] | None = None) -> ExecutionResult:  # fmt: skip
    assert outcome.status == READY and outcome.entry is not None, outcome.failure and (
        outcome.failure.message,
        outcome.failure.hidden_log[-3000:],
    )
    wasm = compiler.cache.read(outcome.entry.checksum)
    assert wasm is not None
    job = ExecutionJob(wasm, stdin, env=env or {}, response_format=ResponseFormat.JSON)
    result = executor.execute(job)
    assert result.ok, json.dumps(result.to_json())
    return result


def failed(outcome: CompileOutcome, compiler: Compiler) -> tuple[Category, str]:
    assert outcome.status == FAILED and outcome.failure is not None, outcome
    assert compiler.cache.lookup(outcome.source) is None  # nothing is cached for a failure
    return outcome.failure.category, outcome.failure.message


def test_rust_repository_with_crates_a_newer_lockfile_and_a_committed_wasm(
    compiler: Compiler, git: GitServer, executor: Executor
) -> None:
    files = folder_files(EXAMPLES / "rust" / "serde-echo", with_wasm=True)
    assert "serde-echo.wasm" in files and 'version = "1.0.219"' in str(files["Cargo.lock"])
    outcome = build(compiler, git, "serde-echo", files)
    stdin = b'{"name": "NEAR", "times": 2}'
    result = run(compiler, executor, outcome, stdin, {"GREETING": "gm"})
    assert result.output == {
        "language": "rust",
        "greeting": "gm",
        "message": "gm, NEARgm, NEAR",
        "sha256": hashlib.sha256(stdin).hexdigest(),
        "sender": None,
    }
    assert outcome.entry is not None
    info = outcome.entry.build
    assert info["language"] == "rust" and info["toolchain"].startswith("rustc ")
    assert info["lockfile_reresolved"] is True  # it pins serde 1.0.219; the mirror is behind
    assert info["ignored_prebuilt"] == ["serde-echo.wasm"]
    assert info["packages_fetched"] >= 10 and info["fetched_bytes"] > 100_000
    assert len(info["lockfile_sha256"]) == 64 and info["compile_ms"] > 0
    assert any("resolved again" in note for note in info["notes"])
    # The module is the one built from source, not the committed file.
    assert compiler.cache.read(outcome.entry.checksum) != files["serde-echo.wasm"]


def test_a_lockfile_the_registry_cannot_satisfy_fails_without_reresolution(
    settings: Settings, tmp_path: Path, git: GitServer
) -> None:
    with own_compiler(settings, tmp_path, git, allow_lock_reresolution=False) as strict:
        outcome = build(strict, git, "strict", folder_files(EXAMPLES / "rust" / "serde-echo"))
        category, message = failed(outcome, strict)
    assert category is Category.DEPENDENCY_NOT_FOUND
    assert "Cargo.lock pins" in message and "serde 1.0.219" in message


def test_a_workspace_with_one_binary_member_builds(
    compiler: Compiler, git: GitServer, executor: Executor
) -> None:
    files: dict[str, str | bytes] = {
        "Cargo.toml": '[workspace]\nmembers = ["crates/*"]\nresolver = "2"\n\n'
        '[workspace.dependencies]\nserde_json = "1"\n' + PROFILE,
        "crates/greet/Cargo.toml": '[package]\nname = "greet"\nversion = "0.1.0"\n'
        'edition = "2021"\n\n[dependencies]\nhex = "0.4"\n',
        "crates/greet/src/lib.rs": 'pub fn greet() -> String { hex::encode("hi") }\n',
        "crates/app/Cargo.toml": '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n'
        '\n[dependencies]\ngreet = { path = "../greet" }\nserde_json = { workspace = true }\n',
        "crates/app/src/main.rs": 'fn main() { println!("{}", '
        'serde_json::json!({"greeting": greet::greet()})); }\n',
    }
    result = run(compiler, executor, build(compiler, git, "workspace", files), b"")
    assert result.output == {"greeting": "6869"}


def test_cpp_with_cmake_and_a_single_cpp_file(
    compiler: Compiler, git: GitServer, executor: Executor
) -> None:
    cmake = build(compiler, git, "word-count", folder_files(EXAMPLES / "cpp" / "word-count"))
    result = run(compiler, executor, cmake, b"b a b c b a")
    assert result.output == {
        "language": "c++", "greeting": "hello", "words": 6, "top": [["b", 3], ["a", 2], ["c", 1]],
    }  # fmt: skip
    assert cmake.entry is not None and cmake.entry.build["language"] == "cpp"
    main = (EXAMPLES / "cpp" / "word-count" / "main.cpp").read_text()
    single = run(compiler, executor, build(compiler, git, "one-file", {"guest.cpp": main}), b"x")
    assert single.output["words"] == 1


def test_go_with_std_only(compiler: Compiler, git: GitServer, executor: Executor) -> None:
    outcome = build(compiler, git, "go-echo", folder_files(EXAMPLES / "go" / "echo-json"))
    result = run(compiler, executor, outcome, b"from go", {"GREETING": "gm"})
    assert result.output == {"language": "go", "greeting": "gm", "input": "from go",
                             "input_bytes": 7}  # fmt: skip


def _file_proxy(root: Path) -> str:
    """A Go module proxy on disk (GOPROXY=file://...) holding one module."""
    module, version = "example.com/greet", "v1.0.0"
    base = root / module / "@v"
    base.mkdir(parents=True)
    (base / "list").write_text(f"{version}\n")
    (base / f"{version}.info").write_text(json.dumps({"Version": version}))
    go_mod = f"module {module}\n\ngo 1.22\n"
    (base / f"{version}.mod").write_text(go_mod)
    with zipfile.ZipFile(base / f"{version}.zip", "w") as archive:
        prefix = f"{module}@{version}/"
        archive.writestr(prefix + "go.mod", go_mod)
        hello = 'package greet\n\nfunc Hello() string { return "hello from a module" }\n'
        archive.writestr(prefix + "greet.go", hello)
    return f"file://{root}"


def test_go_modules_come_from_the_configured_proxy(
    settings: Settings, tmp_path: Path, git: GitServer, executor: Executor
) -> None:
    root = go_root()
    assert root is not None
    proxy = _file_proxy(tmp_path / "proxy")
    guest = tmp_path / "guest"
    guest.mkdir()
    (guest / "go.mod").write_text("module example.com/guest\n\ngo 1.22\n\n"
                                  "require example.com/greet v1.0.0\n")  # fmt: skip
    (guest / "main.go").write_text('package main\n\nimport (\n\t"fmt"\n\t"example.com/greet"\n)\n\n'
                                   "func main() { fmt.Println(greet.Hello()) }\n")  # fmt: skip
    env = {**os.environ, "GOPROXY": proxy, "GOSUMDB": "off", "GOFLAGS": "-mod=mod",
           "GOMODCACHE": str(tmp_path / "modcache"), "GOTOOLCHAIN": "local"}  # fmt: skip
    subprocess.run([str(root / "bin" / "go"), "mod", "tidy"], cwd=guest, env=env, check=True,
                   capture_output=True)  # fmt: skip
    registries = settings.compiler.registries.model_copy(update={"go_proxy": proxy})
    with own_compiler(settings, tmp_path / "c", git, registries=registries) as compiler:
        outcome = build(compiler, git, "go-modules", folder_files(guest))
        assert outcome.status == READY, outcome.failure and outcome.failure.hidden_log[-2000:]
        assert outcome.entry is not None
        wasm = compiler.cache.read(outcome.entry.checksum)
        assert wasm is not None
        assert executor.execute(ExecutionJob(wasm)).output == "hello from a module\n"
        assert outcome.entry.build["packages_fetched"] == 1
        # Vendored (go mod vendor): no fetch phase at all, even with no proxy to reach.
        subprocess.run([str(root / "bin" / "go"), "mod", "vendor"], cwd=guest, env=env,
                       check=True, capture_output=True)  # fmt: skip
        assert (guest / "vendor" / "modules.txt").is_file()
        nowhere = registries.model_copy(update={"go_proxy": f"file://{tmp_path}/no-proxy"})
        with own_compiler(settings, tmp_path / "v", git, registries=nowhere) as offline:
            vendored = build(offline, git, "go-vendored", folder_files(guest))
            assert vendored.status == READY and vendored.entry is not None
            assert vendored.entry.build["packages_fetched"] == 0
            assert offline.cache.read(vendored.entry.checksum) is not None
        shutil.rmtree(guest / "vendor")
        # A module the proxy does not have: its own class, nothing cached.
        (guest / "go.mod").write_text((guest / "go.mod").read_text().replace("v1.0.0", "v1.9.9"))
        category, message = failed(build(compiler, git, "go-missing", folder_files(guest)),
                                   compiler)  # fmt: skip
        assert category is Category.DEPENDENCY_NOT_FOUND and "module proxy" in message


def test_assemblyscript_from_the_npm_registry(
    compiler: Compiler, git: GitServer, executor: Executor
) -> None:
    files = folder_files(EXAMPLES / "assemblyscript" / "echo-json")
    assert not any(name.startswith("node_modules/") for name in files)
    outcome = build(compiler, git, "as-echo", files)
    result = run(compiler, executor, outcome, b'{"x": "\\u00e9"}', {"GREETING": "gm"})
    assert result.output == {"language": "assemblyscript", "greeting": "gm",
                             "input": '{"x": "\\u00e9"}', "input_bytes": 15}  # fmt: skip
    assert outcome.entry is not None and outcome.entry.build["packages_fetched"] == 4


# --- bad input: each its own class and message, and nothing cached ----------------------------
MANIFEST = (
    PROFILE + '[package]\nname = "guest"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n'
)


def test_a_missing_crate_is_named(compiler: Compiler, git: GitServer) -> None:
    files = {"Cargo.toml": MANIFEST + 'no-such-crate-anywhere = "1"\n', "src/main.rs": MAIN}
    category, message = failed(build(compiler, git, "missing", files), compiler)
    assert category is Category.DEPENDENCY_NOT_FOUND
    assert "no-such-crate-anywhere" in message and "does not have" in message
    too_new = {"Cargo.toml": MANIFEST + 'serde_json = "9.1"\n', "src/main.rs": MAIN}
    category, message = failed(build(compiler, git, "too-new", too_new), compiler)
    assert category is Category.DEPENDENCY_NOT_FOUND and "serde_json 9.1" in message


def test_a_registry_that_is_down_is_a_network_error_and_not_remembered(
    settings: Settings, tmp_path: Path, git: GitServer
) -> None:
    down = settings.compiler.registries.model_copy(update={"crates": "sparse+http://127.0.0.1:9/"})
    with own_compiler(settings, tmp_path, git, registries=down) as compiler:
        files = {"Cargo.toml": MANIFEST + 'serde_json = "1"\n', "src/main.rs": MAIN}
        outcome = build(compiler, git, "down", files)
        category, message = failed(outcome, compiler)
        assert category is Category.NETWORK_ERROR and "try again" in message
        assert outcome.failure is not None and outcome.failure.transient
        again = compiler.compile(outcome.source.repo, outcome.source.commit, wait_seconds=None)
        assert again.status == FAILED and compiler.cache.lookup(outcome.source) is None


def test_dependencies_over_the_size_cap(settings: Settings, tmp_path: Path, git: GitServer) -> None:
    small = settings.compiler.registries.model_copy(update={"max_fetch_mb": 1})
    with own_compiler(settings, tmp_path, git, registries=small) as compiler:
        files = folder_files(EXAMPLES / "rust" / "serde-echo")  # about 1.4 MiB of crates
        category, message = failed(build(compiler, git, "big", files), compiler)
    assert category is Category.DEPENDENCY_TOO_LARGE
    assert "1 MiB" in message and "compiler.registries.max_fetch_mb" in message


def test_a_build_script_that_tries_the_network(
    compiler: Compiler, git: GitServer, crate_registry: CrateMirror
) -> None:
    port = crate_registry.port  # a server that is up: only the sandbox stops it
    build_rs = ("fn main() { std::net::TcpStream::connect((\"127.0.0.1\", "
                f"{port})).expect(\"the network\"); }}\n")  # fmt: skip
    files = {"Cargo.toml": MANIFEST, "src/main.rs": "fn main() {}\n", "build.rs": build_rs}
    category, message = failed(build(compiler, git, "netscript", files), compiler)
    assert category is Category.BUILD_SCRIPT_ERROR and "offline" in message


def test_manifests_that_name_nothing_to_run(compiler: Compiler, git: GitServer) -> None:
    library = {"Cargo.toml": MANIFEST, "src/lib.rs": "pub fn f() {}\n"}
    category, message = failed(build(compiler, git, "lib-only", library), compiler)
    assert category is Category.RUST_COMPILATION_ERROR and "names no binary" in message
    nothing = {"README.md": "hello\n", "notes.txt": "x\n"}
    category, message = failed(build(compiler, git, "nothing", nothing), compiler)
    assert category is Category.COMPILATION_ERROR
    assert "Cargo.toml, go.mod" in message and "README.md" in message
    bad_config = {"outlayer.toml": '[build]\nlanguage = "cobol"\n', "main.c": "int main(){}\n"}
    category, message = failed(build(compiler, git, "cobol", bad_config), compiler)
    assert category is Category.COMPILATION_ERROR and "language must be one of" in message


def test_outlayer_toml_names_the_project_folder(
    compiler: Compiler, git: GitServer, executor: Executor
) -> None:
    main = (EXAMPLES / "go" / "echo-json" / "main.go").read_text()
    files: dict[str, str | bytes] = {
        "outlayer.toml": '[build]\ndirectory = "guest"\n',
        "guest/go.mod": "module example.com/sub\n\ngo 1.22\n",
        "guest/main.go": main,
        "docs/index.md": "# a repository with more than the guest\n",
    }
    result = run(compiler, executor, build(compiler, git, "sub", files), b"sub")
    assert result.output["input"] == "sub"


# --- through the platform: on chain and over HTTPS --------------------------------------------
@dataclass
class Platform:
    rpc: NearRpc
    outlayer: Signer
    alice: Signer
    indexer: Indexer
    public: public_pb2_grpc.PublicServiceStub
    key: str


@pytest.fixture(scope="module")
def platform(
    settings: Settings,
    tmp_path_factory: pytest.TempPathFactory,
    executor: Executor,
    compiler_service: tuple[str, Compiler],
) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("platform")
    stack = ExitStack()
    url, chain_root = stack.enter_context(running_localnet(root))
    rpc = NearRpc(url)
    outlayer, worker = provision(rpc, chain_root, root, log=lambda _: None)
    alice = account(rpc, chain_root, "alice", root, log=lambda _: None)
    coordinator = settings.coordinator.model_copy(
        update={"compiler": compiler_service[0], "admin_token": "admin-secret"}
    )
    engine = make_engine(f"sqlite:///{root / 'coordinator.db'}")
    migrate(engine)
    server, port = build_server(settings.model_copy(update={"coordinator": coordinator}), engine,
                                "127.0.0.1:0")  # fmt: skip
    server.start()
    stack.callback(server.stop, None)
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stack.callback(channel.close)
    # The executor's WASM store is the compiler's cache folder, as on one machine in the dev stack.
    store = WasmStore(compiler_service[1].settings.cache_dir)
    runner = JobRunner(executor, channel, register_worker(engine, "w"), store)
    stop = threading.Event()
    thread = threading.Thread(target=runner.run_forever, args=(stop, 0.2), daemon=True)
    thread.start()
    stack.callback(thread.join)
    stack.callback(stop.set)
    indexer = Indexer(RequestFeed(rpc, outlayer.account_id),
                      coordinator_pb2_grpc.CoordinatorServiceStub(channel), rpc=rpc,
                      operator=worker, chain=Chain(outlayer.account_id, "localnet"),
                      cursor=Cursor(root / "cursor.json"), start_height=0,
                      block_seconds=0.05)  # fmt: skip
    public = public_pb2_grpc.PublicServiceStub(channel)
    admin = (("x-admin-token", "admin-secret"),)
    key = public.CreatePaymentKey(
        public_pb2.CreatePaymentKeyRequest(owner="alice.near", balance=str(10**25)),
        metadata=admin,
    ).secret
    yield Platform(rpc, outlayer, alice, indexer, public, key)
    stack.close()


# (published name, folder, input, what the output must hold)
PLATFORM_EXAMPLES = [
    (
        "serde-echo",
        "rust/serde-echo",
        '{"name": "NEAR"}',
        {"language": "rust", "message": "hello, NEAR"},
    ),
    ("word-count", "cpp/word-count", "a b a", {"language": "c++", "words": 3}),
    ("go-echo", "go/echo-json", "hi", {"language": "go", "input": "hi"}),
    ("as-echo", "assemblyscript/echo-json", "hi", {"language": "assemblyscript", "input": "hi"}),
    ("echo-c", "c", "hi", {"language": "c", "input": "hi"}),
]


@pytest.mark.parametrize("example", PLATFORM_EXAMPLES, ids=[e[0] for e in PLATFORM_EXAMPLES])
def test_each_example_runs_through_the_platform_on_chain_and_over_https(
    platform: Platform,
    compiler: Compiler,
    git: GitServer,
    example: tuple[str, str, str, dict[str, object]],
) -> None:
    name, folder, stdin, expected = example
    if name not in PUBLISHED:  # built by the tests above when they ran; else now
        files = folder_files(EXAMPLES / folder, with_wasm=True)
        if name == "echo-c":
            files = {"echo_json.c": files["echo_json.c"]}
        assert build(compiler, git, name, files).status == READY
    repo, commit = f"{GITHUB}/alice/{name}", PUBLISHED[name]
    # Over HTTPS: a project whose current version is that source.
    admin = (("x-admin-token", "admin-secret"),)
    platform.public.CreateProject(public_pb2.CreateProjectRequest(
        owner="dev.near", name=name, code_source=public_pb2.ProjectSource(repo=repo, commit=commit),
    ), metadata=admin)  # fmt: skip
    answer = platform.public.Call(public_pb2.CallRequest(
        owner="dev.near", project=name, input=stdin, wait_seconds=60,
        response_format=execution_pb2.RESPONSE_FORMAT_JSON,
    ), metadata=(("x-payment-key", platform.key),), timeout=90)  # fmt: skip
    assert answer.status == "done", answer
    over_https = json.loads(answer.result.output_json)
    assert answer.result.status == execution_pb2.EXECUTION_STATUS_SUCCESS, answer
    assert expected.items() <= over_https.items(), over_https
    # On chain: request_execution through the contract, the indexer and back.
    sent = send_request(platform.rpc, platform.alice, platform.outlayer.account_id,
                        code_source={"repo": repo, "commit": commit}, input_data=stdin,
                        limits={"max_instructions": 10**9, "max_execution_seconds": 5})  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        platform.indexer.follow_once()
        platform.indexer.settle_once()
        status = platform.rpc.tx_status(sent.tx_hash, platform.alice.account_id)
        if status.raw.get("final_execution_status") == "FINAL":
            break
        time.sleep(0.2)
    on_chain = wait_final(platform.rpc, sent.tx_hash, platform.alice.account_id).value
    assert on_chain["status"] == "success" and on_chain["output"] is not None, on_chain
    if name == "serde-echo":  # the guest reports NEAR_SENDER_ID, set on chain only
        expected = dict(expected, sender=platform.alice.account_id)
    assert expected.items() <= on_chain["output"].items(), on_chain
