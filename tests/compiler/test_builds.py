"""Sources built for real from a loopback git server, in both sandboxes: the asynchronous
model, the cache, single-flight builds, references, every error class, and hygiene."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Iterator, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from devtools.gitserver import GitServer
from devtools.ports import free_port
from outlayer.config import Settings
from outlayer.errors import ExecutionErrorType as Category
from services.compiler.builder import DEFAULT_ESTIMATE_S, FAILED, IN_PROGRESS, READY, Compiler
from services.compiler.sandbox import BuildLimits, Sandbox, SandboxRun
from services.compiler.service import compile_reply
from services.executor import ExecutionJob, Executor
from services.executor.capabilities.manifest import declared_fetch_hosts
from tests.compiler.conftest import HELLO_C, make_compiler


@pytest.fixture(params=["docker", "bwrap"])
def each_sandbox(
    request: pytest.FixtureRequest, settings: Settings, tmp_path: Path, git: GitServer
) -> Iterator[Compiler]:
    built = make_compiler(settings, tmp_path, git, request.param)
    yield built
    built.close()


def test_a_miss_answers_in_progress_then_the_module_is_ready_and_runs(
    each_sandbox: Compiler, git: GitServer, executor: Executor
) -> None:
    commit = git.publish("alice", "hello", {"main.c": HELLO_C})
    repo = f"{git.url}/alice/hello"
    first = each_sandbox.compile(repo, commit)
    assert first.status == IN_PROGRESS
    shown = first.to_json()
    assert shown["estimated_seconds"] > 0 and shown["retry_after_seconds"] > 0
    assert shown["cache_key"] == first.source.cache_key and shown["checksum"] is None

    done = each_sandbox.compile(repo, commit, wait_seconds=None)
    assert done.status == READY and done.entry is not None
    wasm = each_sandbox.cache.read(done.entry.checksum)
    assert wasm is not None and hashlib.sha256(wasm).hexdigest() == done.entry.checksum
    assert done.to_json()["checksum"] == f"sha256:{done.entry.checksum}"
    assert done.to_json()["size_bytes"] == len(wasm)
    assert executor.execute(ExecutionJob(wasm)).output == "hello from C\n"

    hit = each_sandbox.compile(repo, commit, for_execution=True)
    assert hit.status == READY and hit.entry is not None
    assert hit.entry.checksum == done.entry.checksum and hit.entry.execution_count == 1

    # The next commit of the repository is estimated from its last build, not the default.
    assert shown["estimated_seconds"] == DEFAULT_ESTIMATE_S  # nothing was known before
    newer = git.publish("alice", "hello", {"main.c": HELLO_C.replace("C", "C again")})
    estimate = each_sandbox.compile(repo, newer).estimated_seconds
    assert 0 < estimate != DEFAULT_ESTIMATE_S


class CountingSandbox:
    """The real sandbox underneath; counts builds."""

    def __init__(self, inner: Sandbox) -> None:
        self.inner, self.name, self.runs = inner, inner.name, 0

    def check(self) -> None:
        self.inner.check()

    def sweep_stale(self, older_than_seconds: float) -> int:
        return self.inner.sweep_stale(older_than_seconds)

    def stop_builds(self) -> int:
        return self.inner.stop_builds()

    def run(self, build_dir: Path, argv: list[str], env: dict[str, str], cwd: Path,
            limits: BuildLimits, *, mounts: Sequence[Path] = ()) -> SandboxRun:  # fmt: skip
        self.runs += 1
        return self.inner.run(build_dir, argv, env, cwd, limits, mounts=mounts)


def counting(compiler: Compiler) -> CountingSandbox:
    counter = CountingSandbox(compiler.sandbox)
    compiler.sandbox = counter
    return counter


def test_concurrent_identical_requests_build_once(compiler: Compiler, git: GitServer) -> None:
    counter = counting(compiler)
    commit = git.publish("alice", "hello", {"main.c": HELLO_C})
    answers = []

    def ask() -> None:
        answers.append(compiler.compile(f"{git.url}/alice/hello", commit, wait_seconds=None))

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a.status for a in answers] == [READY] * 8
    assert len({a.entry.checksum for a in answers if a.entry}) == 1
    assert counter.runs == 1


def test_a_makefile_project_builds(compiler: Compiler, git: GitServer) -> None:
    makefile = "all: app.wasm\n\napp.wasm: main.c\n\t$(CC) $(CFLAGS) -o $@ main.c\n"
    commit = git.publish("alice", "made", {"main.c": HELLO_C, "Makefile": makefile})
    done = compiler.compile(f"{git.url}/alice/made", commit, wait_seconds=None)
    assert done.status == READY, done.failure and done.failure.hidden_log


def test_branches_and_tags_resolve_to_commits_for_a_short_while(
    settings: Settings, tmp_path: Path, git: GitServer
) -> None:
    repo = f"{git.url}/alice/hello"
    first = git.publish("alice", "hello", {"main.c": HELLO_C})
    git.tag("alice", "hello", "v1", first)  # annotated: peeled to its commit
    cached = make_compiler(settings, tmp_path / "a", git, ref_ttl_seconds=60)
    fresh = make_compiler(settings, tmp_path / "b", git, ref_ttl_seconds=0)
    try:
        assert cached.compile(repo, branch="main").source.commit == first
        assert cached.compile(repo, tag="v1").source.commit == first
        second = git.publish("alice", "hello", {"main.c": HELLO_C.replace("C", "C, v2")})
        assert cached.compile(repo, branch="main").source.commit == first  # within the TTL
        assert fresh.compile(repo, branch="main").source.commit == second
        missing = fresh.compile(repo, branch="nope")
        assert missing.status == FAILED and missing.failure is not None
        assert missing.failure.category is Category.GIT_ERROR
        assert "no branch named 'nope'" in missing.failure.message
    finally:
        cached.close()
        fresh.close()


def failed(
    compiler: Compiler, repo: str, commit: str = "", branch: str = ""
) -> tuple[Category, str]:
    outcome = compiler.compile(repo, commit, branch, wait_seconds=None)
    assert outcome.status == FAILED and outcome.failure is not None, outcome
    return outcome.failure.category, outcome.failure.message


def test_repository_errors(compiler: Compiler, git: GitServer) -> None:
    commit = git.publish("alice", "hello", {"main.c": HELLO_C})
    assert failed(compiler, f"{git.url}/bob/nothing", commit)[0] is Category.REPOSITORY_NOT_FOUND
    git.private.add("alice/hello")
    category, message = failed(compiler, f"{git.url}/alice/hello", branch="main")
    assert category is Category.REPOSITORY_ACCESS_DENIED and "public repositories" in message
    git.private.clear()
    category, message = failed(compiler, "git@github.com:alice/hello.git", commit)
    assert category is Category.INVALID_REPOSITORY_URL and "SSH" in message
    category, message = failed(compiler, f"{git.url}/alice/hello", "0" * 40)
    assert category is Category.GIT_ERROR and "no such revision" in message


def test_an_unreachable_host_is_a_network_error_that_is_tried_again(
    settings: Settings, tmp_path: Path, git: GitServer
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    compiler = make_compiler(settings, tmp_path, git, allowed_hosts=[git.url, closed])
    try:
        category, message = failed(compiler, f"{closed}/alice/hello", "1" * 40)
        assert category is Category.NETWORK_ERROR and "try again" in message
        # Not remembered: the next request tries again.
        assert compiler.compile(f"{closed}/alice/hello", "1" * 40).status == IN_PROGRESS
    finally:
        compiler.close()


def test_a_server_that_is_not_git_is_a_fatal_git_error(
    settings: Settings, tmp_path: Path, git: GitServer
) -> None:
    class NotGit(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>hello</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    web = ThreadingHTTPServer(("127.0.0.1", 0), NotGit)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{web.server_address[1]}"
    compiler = make_compiler(settings, tmp_path, git, allowed_hosts=[origin])
    try:
        category, _ = failed(compiler, f"{origin}/alice/site", "1" * 40)
        assert category is Category.GIT_FATAL_ERROR
    finally:
        compiler.close()
        web.shutdown()


def test_build_failures_are_classified_and_remembered(compiler: Compiler, git: GitServer) -> None:
    counter = counting(compiler)
    broken = git.publish("alice", "broken", {"main.c": "int main(void) { return nope; }\n"})
    repo = f"{git.url}/alice/broken"
    category, message = failed(compiler, repo, broken)
    assert category is Category.COMPILATION_ERROR and "nope" not in message
    assert failed(compiler, repo, broken)[0] is Category.COMPILATION_ERROR
    assert counter.runs == 1  # the second answer came from memory

    readme = git.publish("alice", "docs", {"README.md": "# nothing to build"})
    category, message = failed(compiler, f"{git.url}/alice/docs", readme)
    assert category is Category.COMPILATION_ERROR and "unsupported project" in message
    assert "README.md" in message

    # A committed .wasm is ignored, not refused: the module is the one built from source.
    prebuilt = git.publish("alice", "sneaky", {"main.c": HELLO_C, "bin/app.wasm": b"\0asm"})
    built = compiler.compile(f"{git.url}/alice/sneaky", prebuilt, wait_seconds=None)
    assert built.status == READY and built.entry is not None
    assert built.entry.build["ignored_prebuilt"] == ["bin/app.wasm"]
    assert compiler.cache.read(built.entry.checksum) != b"\0asm"


def test_a_link_out_of_the_build_folder_is_not_taken_as_the_module(
    compiler: Compiler, git: GitServer
) -> None:
    makefile = "all:\n\tln -s /etc/passwd out.wasm\n"
    commit = git.publish("alice", "link", {"Makefile": makefile})
    category, message = failed(compiler, f"{git.url}/alice/link", commit)
    assert category is Category.COMPILATION_ERROR and "not a regular file" in message


def test_builds_are_stopped_at_their_time_and_memory_limits(
    settings: Settings, tmp_path: Path, git: GitServer
) -> None:
    compiler = make_compiler(settings, tmp_path, git, build_timeout_seconds=2,
                             build_memory_mb=128)  # fmt: skip
    try:
        slow = git.publish("alice", "slow", {"Makefile": "all:\n\tsleep 60\n"})
        category, message = failed(compiler, f"{git.url}/alice/slow", slow)
        assert category is Category.COMPILATION_ERROR and "ran past its 2 s limit" in message
        hog = "all:\n\tpython3 -c \"b = b'x' * (400 * 1024 * 1024)\"\n"
        greedy = git.publish("alice", "greedy", {"Makefile": hog})
        category, message = failed(compiler, f"{git.url}/alice/greedy", greedy)
        assert "ran out of memory (limit 128 MiB)" in message
    finally:
        compiler.close()


def test_nothing_a_build_prints_reaches_a_response(
    settings: Settings, tmp_path: Path, git: GitServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A build that prints /etc/passwd and the environment: users see the category only;
    operators see the output in the hidden logs (when turned on); the host's secrets are not
    in either."""
    monkeypatch.setenv("OUTLAYER_PLANTED_HOST_SECRET", "planted-host-secret-7731")
    makefile = "all:\n\tcat /etc/passwd\n\tenv\n\techo MARKER-FROM-BUILD\n\texit 3\n"
    commit = git.publish("alice", "leaky", {"Makefile": makefile})
    compiler = make_compiler(settings, tmp_path, git)
    try:
        outcome = compiler.compile(f"{git.url}/alice/leaky", commit, wait_seconds=None)
    finally:
        compiler.close()
    assert outcome.status == FAILED and outcome.failure is not None
    public = [json.dumps(outcome.to_json()), str(compile_reply(outcome, with_hidden_log=False))]
    hidden = compile_reply(outcome, with_hidden_log=True).hidden_log
    assert "MARKER-FROM-BUILD" in hidden and "builder:x:" in hidden  # it did print them
    host_passwd = Path("/etc/passwd").read_text().splitlines()[0]
    for text in public:
        for leaked in ("MARKER-FROM-BUILD", "builder:x:", "PATH=", host_passwd):
            assert leaked not in text
    for text in [*public, hidden]:
        assert "planted-host-secret-7731" not in text
        assert os.environ["HOME"] not in text or os.environ["HOME"] == "/root"


def test_folders_left_by_a_stopped_compiler_are_swept_at_start(
    settings: Settings, tmp_path: Path, git: GitServer
) -> None:
    work = tmp_path / "builds"
    stale = work / ("a" * 32 + "-deadbeef")
    half_seed = work / "std-seeds" / ".building-0badf00d"
    seed = work / "std-seeds" / "0123456789abcdef01234567"
    recent = work / ("b" * 32 + "-cafecafe")
    for folder in (stale, half_seed, seed, recent):
        (folder / "src").mkdir(parents=True)
    old = time.time() - 10 * 3600
    for folder in (stale, half_seed, seed, work / "std-seeds"):
        os.utime(folder, (old, old))
    make_compiler(settings, tmp_path, git).close()
    assert not stale.exists() and not half_seed.exists()
    assert seed.exists() and recent.exists()  # seeds are kept; a running build is not touched


def test_fetch_hosts_from_outlayer_toml_become_the_modules_section(
    compiler: Compiler, git: GitServer, executor: Executor
) -> None:
    """[capabilities] fetch_hosts is appended to the built module as its outlayer.fetch
    section (so languages that cannot write one from source can declare hosts), covered by the
    module's checksum; bad lists and a second declaration are refused."""
    toml = '[capabilities]\nfetch_hosts = ["api.example.com", "*.Prices.example"]\n'
    commit = git.publish("alice", "fetcher", {"main.c": HELLO_C, "outlayer.toml": toml})
    built = compiler.compile(f"{git.url}/alice/fetcher", commit, wait_seconds=None)
    assert built.status == READY and built.entry is not None
    wasm = compiler.cache.read(built.entry.checksum)
    assert wasm is not None and hashlib.sha256(wasm).hexdigest() == built.entry.checksum
    assert declared_fetch_hosts(wasm) == ["api.example.com", "*.prices.example"]
    assert executor.execute(ExecutionJob(wasm)).output == "hello from C\n"

    for bad, why in (('fetch_hosts = ["bad host!"]', "is not a host name"),
                     ('fetch_hosts = "api.example.com"', "must be a list"),
                     ('hosts = ["a.example"]', "unknown setting 'hosts'")):  # fmt: skip
        files: dict[str, str | bytes] = {
            "main.c": HELLO_C,
            "outlayer.toml": f"[capabilities]\n{bad}\n",
        }
        commit = git.publish("alice", "bad-fetcher", files)
        category, message = failed(compiler, f"{git.url}/alice/bad-fetcher", commit)
        assert category is Category.COMPILATION_ERROR and why in message, message

    declared = ('#include <stdio.h>\n__asm__(".section .custom_section.outlayer.fetch,\\"\\",@\\n'
                '.ascii \\"own.example\\\\n\\"\\n.text\\n");\n'
                'int main(void) { puts("hi"); return 0; }\n')  # fmt: skip
    twice = git.publish("alice", "twice", {"main.c": declared, "outlayer.toml": toml})
    category, message = failed(compiler, f"{git.url}/alice/twice", twice)
    assert category is Category.COMPILATION_ERROR and "in one place" in message
    alone = git.publish("alice", "own", {"main.c": declared})
    own = compiler.compile(f"{git.url}/alice/own", alone, wait_seconds=None)
    assert own.status == READY and own.entry is not None
    assert declared_fetch_hosts(compiler.cache.read(own.entry.checksum) or b"") == ["own.example"]
