"""Prebuilt std for Rust builds: built once per release profile, copied into each build.

With no crates.io, a crate builds std from source (``-Zbuild-std``), which is most of a Rust
build's time. The compiler builds std once, from a template crate of its own with the crate's
release profile, in the same sandbox, and copies that target folder into each build before cargo
runs. Cargo checks its fingerprints, so a seed that does not match is rebuilt, never misused;
each build gets a copy, so no build can alter another's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import threading
import uuid
from pathlib import Path

from services.compiler.projects import CARGO_HOME_CONFIG, SOURCE_DIR, Recipe
from services.compiler.sandbox import BuildLimits, Sandbox

_LOG = logging.getLogger("outlayer.compiler")
TARGET = ".target"


class StdSeeds:
    def __init__(self, directory: Path, limits: BuildLimits, tag: str) -> None:
        self._directory = directory
        self._limits = limits
        self._tag = tag  # what else decides the toolchain: the image, the host's rustc
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def plant(self, recipe: Recipe, build: Path, sandbox: Sandbox) -> bool:
        """Copies the seed for this recipe's profile into ``build`` (building it first if
        needed); False when there is none (the build then compiles std itself)."""
        if recipe.std_profile is None:
            return False
        key = self._key(recipe)
        seed = self._directory / key
        with self._lock(key):
            if not seed.is_dir() and not self._build(recipe, seed, sandbox):
                return False
        shutil.copytree(seed, build / TARGET, symlinks=True)
        return True

    def _key(self, recipe: Recipe) -> str:
        described = json.dumps([self._tag, self._argv(recipe), recipe.env, recipe.std_profile],
                               sort_keys=True)  # fmt: skip
        return hashlib.sha256(described.encode()).hexdigest()[:24]

    @staticmethod
    def _argv(recipe: Recipe) -> list[str]:
        """The plain cargo build (no package, features or fetch flags: they do not shape std)."""
        return recipe.seed_argv or recipe.argv

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    def _build(self, recipe: Recipe, seed: Path, sandbox: Sandbox) -> bool:
        assert recipe.std_profile is not None
        work = self._directory / f".building-{uuid.uuid4().hex[:8]}"
        try:
            profile = "\n".join(f"{k} = {json.dumps(v)}" for k, v in recipe.std_profile.items())
            files = {
                "src/Cargo.toml": '[package]\nname = "outlayer-std-seed"\nversion = "0.0.0"\n'
                'edition = "2021"\n\n[dependencies]\n\n[profile.release]\n' + profile + "\n",
                "src/src/main.rs": "fn main() {}\n",
                ".cargo-home/config.toml": CARGO_HOME_CONFIG,
                ".home/.keep": "",
            }
            for name, text in files.items():
                (work / name).parent.mkdir(parents=True, exist_ok=True)
                (work / name).write_text(text)
            _LOG.info("building std for wasm32-wasip1 (profile %s), once", recipe.std_profile)
            run = sandbox.run(work, self._argv(recipe), recipe.env, SOURCE_DIR, self._limits)
            if run.stopped:
                return False  # the compiler is stopping
            if run.exit_code != 0:
                _LOG.warning("building std failed; builds compile it themselves: %s",
                             run.output[-2000:])  # fmt: skip
                return False
            seed.parent.mkdir(parents=True, exist_ok=True)
            (work / TARGET).rename(seed)
            return True
        finally:
            shutil.rmtree(work, ignore_errors=True)


def toolchain_tag(sandbox: str, image: str) -> str:
    try:
        version = subprocess.run(["rustc", "-V"], capture_output=True, text=True, timeout=30,
                                 check=False).stdout.strip()  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        version = "unknown"
    return f"{sandbox}:{image}:{version}"
