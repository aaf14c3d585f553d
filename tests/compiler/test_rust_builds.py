"""Rust crates built offline for wasm32-wasip1 (std from Debian's sources), and the Rust error
classes. The slowest of the compiler's tests: each build compiles std first."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devtools.gitserver import GitServer, folder_files
from outlayer.errors import ExecutionErrorType as Category
from outlayer.result import ResponseFormat
from services.compiler.builder import FAILED, READY, Compiler
from services.executor import ExecutionJob, Executor
from tests.compiler.test_builds import counting

EXAMPLE = Path(__file__).parents[2] / "examples" / "guests" / "rust" / "echo-json"
MANIFEST = '[package]\nname = "guest"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n'
MAIN = 'fn main() { println!("hi"); }\n'

# Each build compiles std first (a sandbox run of ~1 min on a quiet machine, ~4 min when the
# suite's other half is building too): the suite's 300 s is too short for a test of several.
pytestmark = pytest.mark.timeout(1200)


def test_rust_crates_build_and_run_with_std_built_once_per_profile(
    compiler: Compiler, git: GitServer, executor: Executor
) -> None:
    counter = counting(compiler)
    commit = git.publish("alice", "echo-json", folder_files(EXAMPLE))
    done = compiler.compile(f"{git.url}/alice/echo-json", commit, wait_seconds=None)
    assert done.status == READY and done.entry is not None, done.failure
    wasm = compiler.cache.read(done.entry.checksum)
    assert wasm is not None
    result = executor.execute(ExecutionJob(wasm, b"from git", response_format=ResponseFormat.JSON))
    assert result.ok and result.output["input"] == "from git", json.dumps(result.to_json())
    assert counter.runs == 2  # std for the example's release profile, then the crate

    # Another crate with the same release profile reuses that std: one sandbox run.
    same_profile = MANIFEST + '\n[profile.release]\nopt-level = "s"\npanic = "abort"\n'
    other = git.publish("alice", "other", {"Cargo.toml": same_profile, "src/main.rs": MAIN})
    built = compiler.compile(f"{git.url}/alice/other", other, wait_seconds=None)
    assert built.status == READY and built.entry is not None, built.failure
    assert counter.runs == 3
    module = compiler.cache.read(built.entry.checksum)
    assert module is not None and executor.execute(ExecutionJob(module)).output == "hi\n"


def outcome_of(compiler: Compiler, git: GitServer, name: str,
               files: dict[str, str | bytes]) -> tuple[Category, str]:  # fmt: skip
    commit = git.publish("alice", name, files)
    outcome = compiler.compile(f"{git.url}/alice/{name}", commit, wait_seconds=None)
    assert outcome.status == FAILED and outcome.failure is not None
    return outcome.failure.category, outcome.failure.message


def test_rust_error_classes(compiler: Compiler, git: GitServer) -> None:
    missing = MANIFEST + 'definitely-not-a-crate-on-this-platform = "1"\n'
    category, message = outcome_of(compiler, git, "deps",
                                   {"Cargo.toml": missing, "src/main.rs": MAIN})  # fmt: skip
    assert category is Category.DEPENDENCY_NOT_FOUND and "vendor" in message

    build_rs = 'fn main() { panic!("build script refuses"); }\n'
    category, message = outcome_of(compiler, git, "script",
                                   {"Cargo.toml": MANIFEST, "src/main.rs": MAIN,
                                    "build.rs": build_rs})  # fmt: skip
    assert category is Category.BUILD_SCRIPT_ERROR and "refuses" not in message

    broken = 'fn main() { let x: u32 = "text"; }\n'
    category, message = outcome_of(compiler, git, "broken",
                                   {"Cargo.toml": MANIFEST, "src/main.rs": broken})  # fmt: skip
    assert category is Category.RUST_COMPILATION_ERROR and "mismatched" not in message

    category, message = outcome_of(compiler, git, "notoml",
                                   {"Cargo.toml": "[package\n", "src/main.rs": MAIN})  # fmt: skip
    assert category is Category.RUST_COMPILATION_ERROR and "not valid TOML" in message
