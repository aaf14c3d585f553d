"""Which code sources the compiler accepts, and the clear reason when it does not."""

from __future__ import annotations

import pytest

from outlayer.errors import ExecutionErrorType
from services.compiler.failures import BuildFailure
from services.compiler.sources import parse_source

COMMIT = "a1" * 20


@pytest.mark.parametrize(
    ("repo", "normalised"),
    [
        ("https://github.com/near/outlayer", "https://github.com/near/outlayer"),
        ("https://github.com/near/outlayer.git", "https://github.com/near/outlayer"),
        ("https://github.com/near/outlayer/", "https://github.com/near/outlayer"),
        ("https://GitHub.com/near/outlayer", "https://github.com/near/outlayer"),
        ("http://127.0.0.1:9/owner/repo", "http://127.0.0.1:9/owner/repo"),
    ],
)
def test_github_urls_and_allowed_hosts_are_accepted(repo: str, normalised: str) -> None:
    source = parse_source(repo, COMMIT.upper(), allowed_hosts=["http://127.0.0.1:9"])
    assert source.repo == normalised
    assert source.commit == COMMIT  # lower-cased: one cache key per commit


@pytest.mark.parametrize(
    ("repo", "reason"),
    [
        ("git@github.com:near/outlayer.git", "SSH addresses"),
        ("github.com/near/outlayer", "not an https URL"),
        ("https://gitlab.com/near/outlayer", "https://gitlab.com is not an allowed source host"),
        ("http://github.com/near/outlayer", "not an allowed source host"),
        ("https://github.com/near/outlayer ", "whitespace"),
        ("https://github.com/near /outlayer", "whitespace"),
        ("https://user:pw@github.com/near/outlayer", "credentials"),
        ("https://github.com/near/outlayer?ref=main", "query or fragment"),
        ("https://github.com/near", "exactly one repository"),
        ("https://github.com/near/outlayer/tree/main", "exactly one repository"),
        ("https://github.com/../outlayer", "exactly one repository"),
        ("", "needs a repository URL"),
    ],
)
def test_bad_repository_urls_are_refused_with_a_reason(repo: str, reason: str) -> None:
    with pytest.raises(BuildFailure) as refused:
        parse_source(repo, COMMIT)
    assert refused.value.category is ExecutionErrorType.INVALID_REPOSITORY_URL
    assert reason in refused.value.message


@pytest.mark.parametrize(
    ("refs", "reason"),
    [
        ({}, "exactly one of commit"),
        ({"commit": COMMIT, "branch": "main"}, "exactly one of commit"),
        ({"commit": "abc123"}, "40 hexadecimal"),
        ({"commit": "z" * 40}, "40 hexadecimal"),
        ({"branch": "--upload-pack=evil"}, "not a valid git branch"),
        ({"branch": "a..b"}, "not a valid git branch"),
        ({"tag": "v1 "}, "not a valid git tag"),
    ],
)
def test_bad_references_are_refused(refs: dict[str, str], reason: str) -> None:
    with pytest.raises(BuildFailure) as refused:
        parse_source("https://github.com/near/outlayer", **refs)
    assert reason in refused.value.message


def test_a_source_names_one_build_per_commit() -> None:
    one = parse_source("https://github.com/near/outlayer.git", COMMIT)
    same = parse_source("https://github.com/near/outlayer", COMMIT.upper())
    other = parse_source("https://github.com/near/outlayer", "b2" * 20)
    assert one.cache_key == same.cache_key != other.cache_key
