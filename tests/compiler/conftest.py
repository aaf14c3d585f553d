"""The compiler's tests build real repositories served by a git server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.gitserver import GitServer
from outlayer.config import Settings
from services.compiler.builder import Compiler
from tests.compiler_fixture import compiler_settings

HELLO_C = '#include <stdio.h>\nint main(void) { puts("hello from C"); return 0; }\n'


@pytest.fixture
def git(tmp_path: Path) -> Iterator[GitServer]:
    server = GitServer(tmp_path / "git").start()
    yield server
    server.stop()


def make_compiler(
    settings: Settings,
    root: Path,
    git: GitServer,
    sandbox: str = "docker",
    allowed_hosts: list[str] | None = None,
    **changes: object,
) -> Compiler:
    hosts = allowed_hosts or [git.url]
    configured = compiler_settings(settings, root, hosts, sandbox=sandbox, **changes)
    return Compiler(configured.compiler)


@pytest.fixture
def compiler(settings: Settings, tmp_path: Path, git: GitServer) -> Iterator[Compiler]:
    built = make_compiler(settings, tmp_path, git)
    yield built
    built.close()
