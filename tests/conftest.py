"""Shared fixtures: settings isolated per test session, an isolated executor, guest loaders."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import wasmtime

from devtools import guestbuild
from devtools.crate_mirror import CrateMirror, start_debian_mirror
from outlayer.config import Settings, load_settings
from services.executor import Executor

GUESTS_DIR = Path(__file__).parent / "guests"


@pytest.fixture(scope="session")
def crate_registry() -> Iterator[CrateMirror]:
    """The development crate registry (Debian's crates over cargo's sparse protocol), as the
    dev stack serves it: builds fetch crates from it as they would from crates.io."""
    mirror = start_debian_mirror()
    yield mirror
    mirror.stop()


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory, crate_registry: CrateMirror) -> Settings:
    cache = tmp_path_factory.mktemp("module-cache")
    packages = tmp_path_factory.mktemp("package-cache")
    # Plaintext on loopback by default in tests; tests/test_mtls.py turns mTLS on.
    return load_settings(
        executor={"module_cache_dir": cache, "pool_size": 2, "max_concurrent": 4},
        tls={"enabled": False},
        compiler={
            "registries": {"crates": crate_registry.index_url},
            "allow_lock_reresolution": True,
            "package_cache_dir": packages,
        },
    )


@pytest.fixture(scope="session")
def executor(settings: Settings) -> Iterator[Executor]:
    with Executor(settings) as running:
        yield running


def wat_guest(name: str) -> bytes:
    """A hostile or test guest from tests/guests, compiled from WAT."""
    return bytes(wasmtime.wat2wasm((GUESTS_DIR / f"{name}.wat").read_text()))


def built_contract(name: str) -> bytes:
    """A NEAR contract compiled by nearc (built now if set-up has not built it yet)."""
    return guestbuild.artifact(name)


def built_guest(name: str) -> bytes:
    """An example guest built from C or Rust (built now if set-up has not built it yet)."""
    return guestbuild.artifact(name)
