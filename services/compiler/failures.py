"""Why a source could not be built: a user-safe category and message, never the raw output.

The raw output (git's stderr, the compiler's diagnostics) goes only to ``system_hidden_logs``;
it may print anything the build saw, so a user never gets it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from outlayer.errors import ExecutionErrorType as Category


class BuildFailure(Exception):
    def __init__(
        self, category: Category, message: str, *, transient: bool = False, hidden_log: str = ""
    ) -> None:
        super().__init__(message)
        self.category = category
        self.message = message
        # Transient failures (the network, a timeout fetching) are not remembered: the next
        # request tries again. Others are deterministic for a commit.
        self.transient = transient
        self.hidden_log = hidden_log


def git_failure(stderr: str, repo: str, what: str) -> BuildFailure:
    """Classifies a failed git command (``what``: "fetching abc123", "resolving branch main")."""
    text = stderr.lower()
    log = stderr

    def fail(category: Category, message: str, transient: bool = False) -> BuildFailure:
        return BuildFailure(category, message, transient=transient, hidden_log=log)

    if re.search(r"repository '.*' not found|repository not found|not exported|http 404|"
                 r"does not appear to be a git repository|\b404\b", text):  # fmt: skip
        return fail(
            Category.REPOSITORY_NOT_FOUND,
            f"{repo} does not exist (or is not public): check the owner and name in the URL",
        )
    if re.search(r"could not read username|authentication failed|terminal prompts disabled|"
                 r"\b401\b|\b403\b|permission denied|access denied", text):  # fmt: skip
        return fail(
            Category.REPOSITORY_ACCESS_DENIED,
            f"{repo} asks for credentials: OutLayer builds public repositories only (make it "
            "public, or check the URL)",
        )
    if re.search(r"could not resolve host|connection refused|connection timed out|timed out|"
                 r"failed to connect|network is unreachable|connection reset|"
                 r"unable to access|early eof|the remote end hung up", text):  # fmt: skip
        return fail(
            Category.NETWORK_ERROR,
            f"could not reach {repo} while {what}; this is usually temporary: try again in a "
            "minute (a compiler with no route to the internet reaches only the repositories its "
            "operator mirrors: compiler.git_mirrors)",
            transient=True,
        )
    if re.search(r"not our ref|couldn't find remote ref|no such remote ref|reference is not a "
                 r"tree|unadvertised object|did not match any|bad object|not a valid object|"
                 r"remote did not send all necessary objects", text):  # fmt: skip
        return fail(
            Category.GIT_ERROR,
            f"{repo} has no such revision ({what}): check that the commit, branch or tag exists "
            "and is pushed",
        )
    if re.search(r"^usage:|unknown option|unknown switch|invalid option", text, re.M):
        return fail(
            Category.GIT_USAGE_ERROR,
            f"git refused the request while {what}: the source reference is malformed",
        )
    if "fatal:" in text:
        return fail(
            Category.GIT_FATAL_ERROR,
            f"git failed while {what} from {repo}; check that the repository is a valid git "
            "repository and try again",
        )
    return fail(Category.GIT_ERROR, f"git failed while {what} from {repo}")


def rust_failure(output: str) -> BuildFailure:
    text = output.lower()
    if re.search(r"failed to run custom build command|build script|build\.rs", text):
        return BuildFailure(
            Category.BUILD_SCRIPT_ERROR,
            "a build script (build.rs) failed; build scripts run without network and without "
            "access outside the build folder: make it work offline",
            hidden_log=output,
        )
    if re.search(r"no matching package named|failed to select a version|failed to load source "
                 r"for dependency|failed to get `|--offline|can't checkout from|unable to get "
                 r"packages from source|failed to download", text):  # fmt: skip
        return BuildFailure(
            Category.DEPENDENCY_NOT_FOUND,
            "a dependency could not be found: builds run offline, with the standard library "
            "only, so vendor every dependency (`cargo vendor`, committed with a "
            ".cargo/config.toml that points at it)",
            hidden_log=output,
        )
    return BuildFailure(
        Category.RUST_COMPILATION_ERROR,
        "the crate did not compile for wasm32-wasip1; build it locally with `cargo build "
        "--target wasm32-wasip1 --release` to see the errors",
        hidden_log=output,
    )


def c_failure(output: str) -> BuildFailure:
    return BuildFailure(
        Category.COMPILATION_ERROR,
        "the C sources did not compile for wasm32-wasi; build them locally with clang "
        "--target=wasm32-wasi and wasi-libc to see the errors",
        hidden_log=output,
    )


_TOOL_HINTS = {
    "go": "build it locally with `GOOS=wasip1 GOARCH=wasm go build` to see the errors",
    "asc": "build it locally with `npx asc` and @assemblyscript/wasi-shim to see the errors",
    "cmake": "configure and build it locally with a wasm32-wasi toolchain (clang "
    "--target=wasm32-wasi, wasi-libc, libc++) to see the errors",
}


def tool_failure(tool: str) -> Callable[[str], BuildFailure]:
    """The classifier for a build with ``tool`` (go, asc, cmake)."""

    def classify(output: str) -> BuildFailure:
        text = output.lower()
        missing = r"cannot find module|no required module provides|missing go.sum entry|lookup"
        if tool == "go" and re.search(missing, text):
            return BuildFailure(
                Category.DEPENDENCY_NOT_FOUND,
                "a Go module could not be found: list it in go.mod and go.sum (go mod tidy), or "
                "vendor it (go mod vendor)",
                hidden_log=output,
            )
        if tool == "asc" and "cannot find module" in text:
            return BuildFailure(
                Category.DEPENDENCY_NOT_FOUND,
                "an npm package could not be found: list it in package.json and "
                "package-lock.json (npm install)",
                hidden_log=output,
            )
        return BuildFailure(
            Category.COMPILATION_ERROR,
            f"the project did not compile for WASI; {_TOOL_HINTS.get(tool, 'build it locally')}",
            hidden_log=output,
        )

    return classify
