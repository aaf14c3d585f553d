"""Which code sources may be built: the URL policy, and a source's identity in the cache.

A source is a repository URL of the form ``ORIGIN/OWNER/REPO`` and exactly one of a 40-hex
commit, a branch or a tag. The origin is ``https://github.com`` unless operators allow more.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from outlayer.errors import ExecutionErrorType as Category
from outlayer.repos import GIT_REF, REPO_NAME, normalize_repo
from services.compiler.failures import BuildFailure

GITHUB = "https://github.com"
_COMMIT = re.compile(r"^[0-9a-fA-F]{40}$")


@dataclass(frozen=True)
class Source:
    repo: str  # normalised: ORIGIN/OWNER/REPO, no trailing ".git" or "/"
    commit: str = ""  # 40 lowercase hex once resolved
    branch: str = ""
    tag: str = ""

    @property
    def cache_key(self) -> str:
        """The build's name: one per repository (however it is spelt: outlayer.repos; the
        fetch still uses ``repo`` as given) and commit."""
        name = normalize_repo(self.repo)
        return hashlib.sha256(f"{name}@{self.commit}".encode()).hexdigest()[:32]

    def describe(self) -> str:
        ref = self.commit[:12] or (f"branch {self.branch}" if self.branch else f"tag {self.tag}")
        return f"{self.repo} at {ref}"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def parse_source(
    repo: str, commit: str = "", branch: str = "", tag: str = "", allowed_hosts: Sequence[str] = ()
) -> Source:
    """Checks a source against the policy; raises BuildFailure(invalid_repository_url)."""

    def refuse(reason: str) -> BuildFailure:
        return BuildFailure(Category.INVALID_REPOSITORY_URL, reason)

    if not repo:
        raise refuse(f"a code source needs a repository URL: {GITHUB}/OWNER/REPO")
    if repo != repo.strip() or re.search(r"\s", repo):
        raise refuse(f"the repository URL {repo!r} contains whitespace; remove it")
    if repo.startswith("git@") or "://" not in repo:
        raise refuse(
            f"{repo!r} is not an https URL: use {GITHUB}/OWNER/REPO (SSH addresses such as "
            "git@github.com:OWNER/REPO are not supported)"
        )
    parts = urlsplit(repo)
    origin = f"{parts.scheme}://{parts.netloc}".lower()
    allowed = {GITHUB, *(host.rstrip("/").lower() for host in allowed_hosts)}
    if parts.username or parts.password or "@" in parts.netloc:
        raise refuse(f"{repo!r} carries credentials; OutLayer builds public repositories only")
    if origin not in allowed:
        raise refuse(
            f"{origin} is not an allowed source host; sources must be on "
            + ", ".join(sorted(allowed))
        )
    if parts.query or parts.fragment:
        raise refuse(f"{repo!r} has a query or fragment; give just {origin}/OWNER/REPO")
    segments = parts.path.strip("/").removesuffix(".git").split("/")
    named = all(REPO_NAME.fullmatch(s) and s not in (".", "..") for s in segments)
    if len(segments) != 2 or not named:
        raise refuse(f"{repo!r} must name exactly one repository: {origin}/OWNER/REPO")
    normalised = f"{origin}/{segments[0]}/{segments[1]}"
    given = [name for name, value in (("commit", commit), ("branch", branch), ("tag", tag))
             if value]  # fmt: skip
    if len(given) != 1:
        raise refuse("a code source needs exactly one of commit (40 hex), branch or tag")
    if commit and not _COMMIT.fullmatch(commit):
        raise refuse(f"commit {commit!r} must be 40 hexadecimal characters (a full SHA-1)")
    for kind, value in (("branch", branch), ("tag", tag)):
        if value and not GIT_REF.fullmatch(value):
            raise refuse(f"{kind} {value!r} is not a valid git {kind} name")
    return Source(normalised, commit.lower(), branch, tag)
