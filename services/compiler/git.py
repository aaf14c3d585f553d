"""Talking to git remotes: resolving a branch or tag to a commit, fetching one commit.

Fetching happens here, on the host, before the build; the build itself has no network. git runs
with a clean environment (no credentials, no prompts, no user or system config), so a private
repository fails fast instead of hanging on a prompt.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from outlayer.errors import ExecutionErrorType as Category
from services.compiler.failures import BuildFailure, git_failure
from services.compiler.sources import Source

# Options that keep a fetch from touching anything but the network and its destination.
_SAFE_OPTIONS = (
    "-c", "protocol.file.allow=never", "-c", "protocol.ext.allow=never",
    "-c", "credential.helper=", "-c", "core.hooksPath=/dev/null",
    "-c", "http.lowSpeedLimit=1000", "-c", "http.lowSpeedTime=30",
    "-c", "advice.detachedHead=false", "-c", "init.defaultBranch=main",
)  # fmt: skip


class GitRemote:
    def __init__(
        self,
        *,
        timeout_seconds: float,
        max_source_bytes: int,
        ref_ttl_seconds: float = 60.0,
        mirrors: dict[str, str] | None = None,
    ) -> None:
        self._timeout = timeout_seconds
        self._max_source_bytes = max_source_bytes
        self._ref_ttl = ref_ttl_seconds
        self._mirrors = {k.rstrip("/"): v.rstrip("/") for k, v in (mirrors or {}).items()}
        self._resolved: dict[tuple[str, str, str], tuple[float, str]] = {}
        self._lock = threading.Lock()

    def fetch_url(self, repo: str) -> str:
        for origin, mirror in self._mirrors.items():
            if repo.startswith(origin + "/"):
                return mirror + repo[len(origin) :]
        return repo

    def resolve(self, source: Source) -> Source:
        """The source with its commit: a branch or tag is resolved (cached for a short while)."""
        if source.commit:
            return source
        kind, name = ("branch", source.branch) if source.branch else ("tag", source.tag)
        key = (source.repo, kind, name)
        with self._lock:
            cached = self._resolved.get(key)
        if cached is not None and time.monotonic() - cached[0] < self._ref_ttl:
            return Source(source.repo, cached[1], source.branch, source.tag)
        ref = f"refs/heads/{name}" if kind == "branch" else f"refs/tags/{name}"
        listed = self._git(
            ["ls-remote", self.fetch_url(source.repo), ref, f"{ref}^{{}}"],
            None,
            source.repo,
            f"resolving {kind} {name}",
        )
        commits: dict[str, str] = {}
        for line in listed.splitlines():
            sha, _, name = line.partition("\t")
            commits[name] = sha
        # An annotated tag lists its object and, peeled (^{}), the commit it points at.
        commit = commits.get(f"{ref}^{{}}") or commits.get(ref)
        if commit is None:
            raise BuildFailure(
                Category.GIT_ERROR,
                f"{source.repo} has no {kind} named {name!r}: check the name, or give a commit",
            )
        with self._lock:
            self._resolved[key] = (time.monotonic(), commit)
        return Source(source.repo, commit, source.branch, source.tag)

    def fetch(self, source: Source, destination: Path) -> None:
        """Checks out ``source.commit`` into ``destination`` (an empty folder)."""
        url = self.fetch_url(source.repo)
        what = f"fetching commit {source.commit}"
        self._git(["init", "-q", str(destination)], None, source.repo, what)
        try:
            self._git(["fetch", "-q", "--depth", "1", "--no-tags", url, source.commit],
                      destination, source.repo, what)  # fmt: skip
        except BuildFailure as shallow:
            if shallow.category is not Category.GIT_ERROR:
                raise
            # Servers that refuse to serve a commit by its id: fetch every branch and tag.
            self._git(["fetch", "-q", "--no-tags", url, "+refs/heads/*:refs/remotes/origin/*",
                       "+refs/tags/*:refs/tags/*"], destination, source.repo, what)  # fmt: skip
        self._git(["checkout", "-q", "--detach", source.commit], destination, source.repo, what)
        shutil.rmtree(destination / ".git")
        size = sum(p.lstat().st_size for p in destination.rglob("*"))  # links not followed
        if size > self._max_source_bytes:
            raise BuildFailure(
                Category.COMPILATION_ERROR,
                f"the source tree is {size // 2**20} MiB, over this platform's limit of "
                f"{self._max_source_bytes // 2**20} MiB: keep large files out of the repository",
            )

    def _git(self, args: list[str], cwd: Path | None, repo: str, what: str) -> str:
        with tempfile.TemporaryDirectory(prefix="outlayer-git-home-") as home:
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "HOME": home,
                "GIT_TERMINAL_PROMPT": "0",
                "GIT_ASKPASS": "/bin/false",
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": os.devnull,
                "LC_ALL": "C",
            }
            try:
                done = subprocess.run(
                    ["git", *_SAFE_OPTIONS, *args], cwd=cwd, env=env, capture_output=True,
                    text=True, errors="replace", timeout=self._timeout, check=False,
                )  # fmt: skip
            except subprocess.TimeoutExpired:
                raise BuildFailure(
                    Category.NETWORK_ERROR,
                    f"{what} from {repo} took longer than {self._timeout:.0f} s; try again later",
                    transient=True,
                ) from None
            except FileNotFoundError:
                raise BuildFailure(
                    Category.GIT_FATAL_ERROR, "git is not installed on the compiler host",
                    transient=True,
                ) from None  # fmt: skip
        if done.returncode != 0:
            raise git_failure(done.stderr, repo, what)
        return done.stdout
