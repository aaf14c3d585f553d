"""Raw git and compiler output is classified into the user-facing categories; the raw text is
kept for the hidden logs only."""

from __future__ import annotations

import pytest

from outlayer.errors import ExecutionErrorType as Category
from services.compiler.failures import c_failure, git_failure, rust_failure

REPO = "https://github.com/near/outlayer"


@pytest.mark.parametrize(
    ("stderr", "category", "transient"),
    [
        ("remote: Repository not found.\nfatal: repository 'https://github.com/x/y/' not found",
         Category.REPOSITORY_NOT_FOUND, False),
        ("fatal: could not read Username for 'https://github.com': terminal prompts disabled",
         Category.REPOSITORY_ACCESS_DENIED, False),
        ("fatal: unable to access 'https://github.com/x/y/': Could not resolve host: github.com",
         Category.NETWORK_ERROR, True),
        ("fatal: unable to access 'http://127.0.0.1:1/x/y/': Failed to connect to 127.0.0.1",
         Category.NETWORK_ERROR, True),
        ("fatal: remote error: upload-pack: not our ref 0123", Category.GIT_ERROR, False),
        ("error: pathspec 'abc' did not match any file(s) known to git", Category.GIT_ERROR, False),
        ("usage: git fetch [<options>] [<repository> [<refspec>...]]", Category.GIT_USAGE_ERROR,
         False),
        ("error: unknown option `upload-pack'", Category.GIT_USAGE_ERROR, False),
        ("fatal: http://127.0.0.1/x/y/info/refs not valid: is this a git repository?",
         Category.GIT_FATAL_ERROR, False),
        ("something odd happened", Category.GIT_ERROR, False),
    ],
)  # fmt: skip
def test_git_failures_are_classified(stderr: str, category: Category, transient: bool) -> None:
    failure = git_failure(stderr, REPO, "fetching commit 0123")
    assert failure.category is category
    assert failure.transient is transient
    assert stderr not in failure.message  # the raw text goes to the hidden log only
    assert failure.hidden_log == stderr


@pytest.mark.parametrize(
    ("output", "category"),
    [
        ("error: failed to run custom build command for `guest v0.1.0`\n  thread panicked",
         Category.BUILD_SCRIPT_ERROR),
        ("error: no matching package named `serde` found\nlocation searched: directory source",
         Category.DEPENDENCY_NOT_FOUND),
        ("error[E0425]: cannot find value `x` in this scope\nerror: could not compile `guest`",
         Category.RUST_COMPILATION_ERROR),
    ],
)  # fmt: skip
def test_rust_failures_are_classified(output: str, category: Category) -> None:
    failure = rust_failure(output)
    assert failure.category is category
    assert output not in failure.message and failure.hidden_log == output


def test_c_failures_are_compilation_errors() -> None:
    failure = c_failure("main.c:1:1: error: unknown type name 'in'")
    assert failure.category is Category.COMPILATION_ERROR
    assert "main.c" not in failure.message


def test_an_unreachable_repository_says_where_an_offline_compiler_can_fetch() -> None:
    failure = git_failure("fatal: unable to access: Could not resolve host: github.com", REPO,
                          "fetching commit 0123")  # fmt: skip
    assert "try again in a minute" in failure.message
    assert "compiler.git_mirrors" in failure.message  # on a machine with no internet route
